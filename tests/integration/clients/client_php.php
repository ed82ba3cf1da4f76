<?php
// The key-to-server answer of PHP's php-memcached (libmemcached inside), for
// the placement tests: `php client_php.php locate|store SETTINGS
// HOST:PORT[:WEIGHT]...` reads keys (one per line) on stdin; `locate` prints
// `key<TAB>host:port` as Memcached::getServerByKey answers, `store` sets each
// key. SETTINGS is `defaults` or Memcached options applied in order, comma
// separated, e.g. `OPT_LIBKETAMA_COMPATIBLE=1` or
// `OPT_DISTRIBUTION=DISTRIBUTION_CONSISTENT,OPT_LIBKETAMA_COMPATIBLE=1`
// (a value is a number, a Memcached constant, else a string, e.g.
// `OPT_PREFIX_KEY=app:`); the servers are added after
// them, or where the word `servers` stands in the list.
if ($argc < 4 || !in_array($argv[1], ['locate', 'store'])) {
    fwrite(STDERR, "usage: php client_php.php locate|store SETTINGS HOST:PORT[:WEIGHT]...\n");
    exit(2);
}
$m = new Memcached();
$servers = [];
foreach (array_slice($argv, 3) as $spec) {
    $f = explode(':', $spec);
    $servers[] = count($f) > 2 ? [$f[0], (int)$f[1], (int)$f[2]] : [$f[0], (int)$f[1]];
}
$steps = $argv[2] === 'defaults' ? [] : explode(',', $argv[2]);
if (!in_array('servers', $steps)) {
    $steps[] = 'servers';
}
foreach ($steps as $step) {
    if ($step === 'servers') {
        if (!$m->addServers($servers)) {
            fwrite(STDERR, "client_php: addServers failed\n");
            exit(1);
        }
        continue;
    }
    [$name, $value] = array_pad(explode('=', $step, 2), 2, '1');
    if (is_numeric($value)) {
        $value = (int)$value;
    } elseif (defined('Memcached::' . $value)) {
        $value = constant('Memcached::' . $value);
    }
    if (!$m->setOption(constant('Memcached::' . $name), $value)) {
        fwrite(STDERR, "client_php: setOption $step failed\n");
        exit(1);
    }
}
$stored = 0;
while (($line = fgets(STDIN)) !== false) {
    $key = rtrim($line, "\r\n");
    if ($key === '') {
        continue;
    }
    if ($argv[1] === 'store') {
        if (!$m->set($key, 'v')) {
            fwrite(STDERR, "client_php: set $key: " . $m->getResultMessage() . "\n");
            exit(1);
        }
        $stored++;
        continue;
    }
    $s = $m->getServerByKey($key);
    if ($s === false) {
        fwrite(STDERR, "client_php: getServerByKey $key: " . $m->getResultMessage() . "\n");
        exit(1);
    }
    echo $key, "\t", $s['host'], ':', $s['port'], "\n";
}
if ($argv[1] === 'store') {
    echo "stored $stored\n";
}
