#!/usr/bin/python3
"""Checks of what operators deploy, without a container engine or systemd
running anything (none runs on the test machines):

- docker/compose.yml passes `docker-compose config -q` (Debian 12's
  docker-compose 1.29, which knows an older subset of the Compose format);
  every file it mounts and every file docker/Dockerfile copies exists; the
  mcsqueal configurations it mounts pass `mcsqueal check-config`;
- the Prometheus configuration, with the files compose mounts for it, passes
  `promtool check config`, and the alert rules `promtool check rules`; the
  Grafana provisioning points at the mounted dashboard;
- docker/runtime-packages, with the packages they depend on, provides every
  library `ldd` shows for the built binary, and Connector/C's run-time
  authentication plugins (caching_sha2_password for MySQL 8);
- scripts/deps --build installs what the build (tests off, as in the image)
  needs: the package of every pkg-config module a CMakeLists.txt outside
  tests/ asks for, and no test server;
- every systemd unit passes `systemd-analyze verify` (ExecStart pointed at
  the built binary) and its `systemd-analyze security --offline=true`
  exposure is the figure docs/deploy.md gives.

Usage: test_deploy_files.py SOURCE_DIR MCSQUEAL_BINARY
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

SRC = os.path.abspath(sys.argv[1])
BINARY = os.path.abspath(sys.argv[2])
DOCKER = os.path.join(SRC, "docker")
UNITS = os.path.join(SRC, "packaging", "systemd")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def compose_file():
    with open(os.path.join(DOCKER, "compose.yml")) as f:
        return yaml.safe_load(f)


def bind_mounts(compose):
    """(service, host path, container path) of every bind mount."""
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes", []):
            source, target = vol.split(":")[:2]
            if source.startswith(".") or source.startswith("/"):
                yield name, os.path.normpath(os.path.join(DOCKER, source)), target


def check_compose_config():
    r = run(["docker-compose", "-f", os.path.join(DOCKER, "compose.yml"), "config", "-q"])
    if r.returncode != 0:
        fail("docker-compose config -q: " + r.stderr.strip())


def check_mounts_exist(compose):
    for service, host, _ in bind_mounts(compose):
        if not os.path.exists(host):
            fail("%s mounts %s, which does not exist" % (service, host))
    for name, svc in compose["services"].items():
        build = svc.get("build")
        if build:
            dockerfile = os.path.join(DOCKER, build["context"], build["dockerfile"])
            if not os.path.isfile(dockerfile):
                fail("%s builds from %s, which does not exist" % (name, dockerfile))


def check_dockerfile_copies():
    with open(os.path.join(DOCKER, "Dockerfile")) as f:
        text = f.read()
    for m in re.finditer(r"^COPY (?!--from)(\S+)", text, re.M):
        if not os.path.exists(os.path.join(SRC, m.group(1))):
            fail("docker/Dockerfile copies %s, which does not exist" % m.group(1))
    r = run([BINARY, "status", "--help"])
    if "--ready" not in r.stdout:
        fail("the HEALTHCHECK runs `mcsqueal status --ready`, which this mcsqueal lacks")
    for needed in ("scripts/deps --build", "USER mcsqueal", "VOLUME /var/lib/mcsqueal",
                   "EXPOSE 9187", '"status", "--ready"', "docker/runtime-packages"):
        if needed not in text:
            fail("docker/Dockerfile lacks %r" % needed)


def check_mcsqueal_configs(compose):
    checked = 0
    for service, host, target in bind_mounts(compose):
        if target == "/etc/mcsqueal/mcsqueal.ini":
            checked += 1
            r = run([BINARY, "check-config", "--config", host])
            if r.returncode != 0:
                fail("%s: check-config %s: %s" % (service, host, r.stdout + r.stderr))
    if checked < 3:
        fail("expected the tail, route and heartbeat configurations, found %d" % checked)


def check_prometheus(compose):
    mounts = {t: h for s, h, t in bind_mounts(compose) if s == "prometheus"}
    with open(mounts["/etc/prometheus/prometheus.yml"]) as f:
        conf = yaml.safe_load(f)
    rules = conf.get("rule_files", [])
    if not rules:
        fail("prometheus.yml loads no rule files")
    with tempfile.TemporaryDirectory() as tmp:
        # promtool reads rule_files from the paths inside the container:
        # give it the files compose mounts there
        missing = [path for path in rules if path not in mounts]
        if missing:
            fail("prometheus.yml loads %s, which compose does not mount" % missing)
        conf["rule_files"] = [mounts[path] for path in rules if path in mounts]
        path = os.path.join(tmp, "prometheus.yml")
        with open(path, "w") as f:
            yaml.safe_dump(conf, f)
        r = run(["promtool", "check", "config", path])
        if r.returncode != 0:
            fail("promtool check config: " + r.stdout + r.stderr)
    r = run(["promtool", "check", "rules", os.path.join(SRC, "docs/prometheus/alerts.yml")])
    if r.returncode != 0:
        fail("promtool check rules: " + r.stdout + r.stderr)
    targets = [t for job in conf["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]]
    for t in targets:
        if t.split(":")[0] not in compose["services"]:
            fail("prometheus scrapes %s, which is no service" % t)


def check_grafana(compose):
    mounts = {t: h for s, h, t in bind_mounts(compose) if s == "grafana"}
    dashboards = [t for t in mounts if t.endswith(".json")]
    prov = mounts["/etc/grafana/provisioning"]
    with open(os.path.join(prov, "dashboards", "mcsqueal.yml")) as f:
        path = yaml.safe_load(f)["providers"][0]["options"]["path"]
    if not dashboards or any(os.path.dirname(d) != path for d in dashboards):
        fail("grafana's dashboard provider reads %s; dashboards mounted: %s" % (path, dashboards))
    with open(os.path.join(prov, "datasources", "prometheus.yml")) as f:
        ds = yaml.safe_load(f)["datasources"][0]
    if ds["url"].split("//")[1].split(":")[0] not in compose["services"]:
        fail("grafana's data source %s is no service" % ds["url"])


def installed_depends():
    """{package: [packages it depends on]} of the installed packages."""
    r = run(["dpkg-query", "-W", "-f", "${Package}\t${Depends}, ${Pre-Depends}\n"])
    deps = {}
    for line in r.stdout.splitlines():
        pkg, _, rest = line.partition("\t")
        names = []
        for clause in rest.split(","):
            for alt in clause.split("|"):  # any alternative may be the one installed
                alt = alt.strip().split(" ")[0].split(":")[0]
                if alt:
                    names.append(alt)
        deps[pkg] = names
    return deps


def path_forms(path):
    """The names dpkg may know a file by (symlinks, merged /usr)."""
    forms = {path, os.path.realpath(path)}
    for f in list(forms):
        forms.add(f[4:] if f.startswith("/usr/") else "/usr" + f)
    return forms


def owner_packages(paths):
    """{path: package} for the paths some installed package ships (one
    dpkg -S call: each call reads the whole database)."""
    forms = {form: p for p in paths for form in path_forms(p)}
    r = run(["dpkg", "-S"] + sorted(forms))
    owners = {}
    for line in r.stdout.splitlines():
        pkgs, _, path = line.rpartition(": ")
        if path in forms:
            owners[forms[path]] = pkgs.split(",")[0].split(":")[0].strip()
    return owners


def check_runtime_packages():
    with open(os.path.join(DOCKER, "runtime-packages")) as f:
        listed = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    deps = installed_depends()
    closure, todo = set(), list(listed)
    while todo:
        p = todo.pop()
        if p not in closure:
            closure.add(p)
            todo.extend(deps.get(p, []))
    # Connector/C loads its authentication plugins at run time (ldd does not
    # show them): MySQL 8's default caching_sha2_password among them
    plugin_dir = run(["mariadb_config", "--plugindir"]).stdout.strip()
    plugins = [os.path.join(plugin_dir, p)
               for p in ("caching_sha2_password.so", "sha256_password.so", "client_ed25519.so")]
    libs = set()
    for f in [BINARY] + plugins:
        if not os.path.isfile(f):
            fail("%s not found" % f)
            continue
        if f != BINARY:
            libs.add(f)
        for line in run(["ldd", f]).stdout.splitlines():
            m = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+)", line)
            if "not found" in line:
                fail("ldd %s: %s" % (f, line.strip()))
            elif m:
                libs.add(m.group(1))
    owners = owner_packages(libs)
    for lib in sorted(libs):
        if owners.get(lib) not in closure:
            fail("%s (package %s) is not covered by docker/runtime-packages" %
                 (lib, owners.get(lib)))
    print("runtime-packages: %d listed, %d with dependencies, cover %d libraries" %
          (len(listed), len(closure), len(libs)))


def deps_build_packages():
    """The build_packages array of scripts/deps."""
    with open(os.path.join(SRC, "scripts", "deps")) as f:
        m = re.search(r"^build_packages=\((.*?)^\)", f.read(), re.M | re.S)
    return [w for line in m.group(1).splitlines() for w in line.split("#")[0].split()]


def check_build_dependencies():
    build = set(deps_build_packages())
    modules = []
    for top, dirs, files in os.walk(SRC):
        rel = os.path.relpath(top, SRC)
        dirs[:] = [d for d in dirs if not d.startswith((".", "build")) and
                   not (rel == "." and d == "tests")]
        if "CMakeLists.txt" in files:
            with open(os.path.join(top, "CMakeLists.txt")) as f:
                modules += re.findall(r"pkg_check_modules\(\s*\w+[^)]*?IMPORTED_TARGET\s+([\w.+-]+)",
                                      f.read())
    pcfiles = {}
    for mod in modules:
        d = run(["pkg-config", "--variable=pcfiledir", mod]).stdout.strip()
        if not d:
            fail("pkg-config module %s (CMakeLists.txt) is not installed" % mod)
        else:
            pcfiles[os.path.join(d, mod + ".pc")] = mod
    owners = owner_packages(pcfiles)
    deps = installed_depends()
    for pc, mod in sorted(pcfiles.items()):
        # the -dev package, or one that a build package depends on
        provided = build | {d for p in build for d in deps.get(p, [])}
        if owners.get(pc) not in provided:
            fail("the build needs %s (package %s), which scripts/deps --build does not install" %
                 (mod, owners.get(pc)))
    for p in ("cmake", "pkg-config", "build-essential"):
        if p not in build:
            fail("scripts/deps --build lacks %s" % p)
    for p in ("mariadb-server", "memcached", "libcmocka-dev", "default-jdk-headless", "prometheus"):
        if p in build:
            fail("scripts/deps --build installs %s, which only the tests need" % p)
    print("scripts/deps --build: %d packages cover the %d pkg-config modules of the build" %
          (len(build), len(modules)))


def documented_exposures():
    """{unit file: exposure} from docs/deploy.md's table."""
    with open(os.path.join(SRC, "docs", "deploy.md")) as f:
        text = f.read()
    return {m.group(1): m.group(2)
            for m in re.finditer(r"^\| `([\w@.-]+\.service)` \| (\d+\.\d) \|$", text, re.M)}


def check_units():
    units = sorted(u for u in os.listdir(UNITS) if u.endswith(".service"))
    if len(units) < 4:
        fail("expected units for tail, route, run and heartbeat, found %s" % units)
    documented = documented_exposures()
    with tempfile.TemporaryDirectory() as tmp:
        for unit in units:
            with open(os.path.join(UNITS, unit)) as f:
                text = f.read()
            for needed in ("Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID",
                           "User=mcsqueal", "ProtectSystem=strict", "ProtectHome=yes",
                           "PrivateTmp=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
                           "RestrictAddressFamilies=", "SystemCallFilter=@system-service"):
                if needed not in text:
                    fail("%s lacks %r" % (unit, needed.strip()))
            if "@" in unit and ("/etc/mcsqueal/%i.ini" not in text or
                                "StateDirectory=mcsqueal/%i" not in text):
                fail("%s: an instance reads /etc/mcsqueal/%%i.ini, state in mcsqueal/%%i" % unit)
            # an instance of a template; ExecStart runs the built binary
            path = os.path.join(tmp, unit.replace("@.", "@demo."))
            with open(path, "w") as f:
                f.write(text.replace("/usr/bin/mcsqueal", BINARY))
            r = run(["systemd-analyze", "verify", path], cwd=tmp)
            if r.returncode != 0 or r.stderr.strip():
                fail("systemd-analyze verify %s: %s" % (unit, r.stdout + r.stderr))
            r = run(["systemd-analyze", "security", "--offline=true", path], cwd=tmp)
            m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", r.stdout)
            if not m:
                fail("systemd-analyze security %s: %s" % (unit, r.stdout[-500:] + r.stderr))
                continue
            print("%s: exposure %s" % (unit, m.group(1)))
            if documented.get(unit) != m.group(1):
                fail("%s: exposure %s, docs/deploy.md says %s" %
                     (unit, m.group(1), documented.get(unit)))


def main():
    compose = compose_file()
    check_compose_config()
    check_mounts_exist(compose)
    check_dockerfile_copies()
    check_mcsqueal_configs(compose)
    check_prometheus(compose)
    check_grafana(compose)
    check_runtime_packages()
    check_build_dependencies()
    check_units()
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all deploy checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
