// The key-to-server answer of Java's spymemcached, for the placement tests:
// `java -cp spymemcached.jar:DIR ClientSpymemcached locate|store SETTINGS
// HOST:PORT[:WEIGHT]...` reads keys (one per line) on stdin; `locate` prints
// `key<TAB>host:port` of the node the client's locator picks
// (getNodeLocator().getPrimary), `store` sets each key. SETTINGS is `ketama`
// (new KetamaConnectionFactory(), which has no weights: a `:WEIGHT` suffix is
// refused) or `ketama_weighted` (the factory's constructor with a weight map,
// the other arguments its defaults), or `ketama_libmemcached_format`
// (that constructor with KetamaNodeKeyFormatter.Format.LIBMEMCACHED, weights
// 1). The servers are given as AddrUtil.getAddresses reads them.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import net.spy.memcached.AddrUtil;
import net.spy.memcached.ConnectionFactory;
import net.spy.memcached.DefaultConnectionFactory;
import net.spy.memcached.DefaultHashAlgorithm;
import net.spy.memcached.KetamaConnectionFactory;
import net.spy.memcached.KetamaNodeKeyFormatter;
import net.spy.memcached.MemcachedClient;
import net.spy.memcached.NodeLocator;

public final class ClientSpymemcached {
  private static int usage() {
    System.err.println(
        "usage: ClientSpymemcached locate|store ketama|ketama_weighted|ketama_libmemcached_format "
        + "HOST:PORT[:WEIGHT]...");
    return 2;
  }

  private static int run(String[] args) throws Exception {
    if (args.length < 3 || !(args[0].equals("locate") || args[0].equals("store"))) return usage();
    boolean weighted = args[1].equals("ketama_weighted");
    boolean libmemcachedFormat = args[1].equals("ketama_libmemcached_format");
    if (!weighted && !libmemcachedFormat && !args[1].equals("ketama")) return usage();
    StringBuilder list = new StringBuilder();
    List<Integer> weights = new ArrayList<>();
    for (int i = 2; i < args.length; i++) {
      String[] f = args[i].split(":");
      if (f.length == 3 && !weighted) {
        System.err.println("ClientSpymemcached: " + args[i] + ": ketama takes no weights");
        return 2;
      }
      list.append(i > 2 ? " " : "").append(f[0]).append(':').append(f[1]);
      weights.add(f.length == 3 ? Integer.valueOf(f[2]) : 1);
    }
    List<InetSocketAddress> addrs = AddrUtil.getAddresses(list.toString());
    ConnectionFactory factory;
    if (weighted || libmemcachedFormat) {
      Map<InetSocketAddress, Integer> w = new HashMap<>();
      for (int i = 0; i < addrs.size(); i++) w.put(addrs.get(i), weights.get(i));
      factory = new KetamaConnectionFactory(DefaultConnectionFactory.DEFAULT_OP_QUEUE_LEN,
          DefaultConnectionFactory.DEFAULT_READ_BUFFER_SIZE,
          DefaultConnectionFactory.DEFAULT_OP_QUEUE_MAX_BLOCK_TIME,
          DefaultHashAlgorithm.KETAMA_HASH,
          libmemcachedFormat ? KetamaNodeKeyFormatter.Format.LIBMEMCACHED
                             : KetamaNodeKeyFormatter.Format.SPYMEMCACHED,
          w);
    } else {
      factory = new KetamaConnectionFactory();
    }
    MemcachedClient client = new MemcachedClient(factory, addrs);
    try {
      BufferedReader in =
          new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      StringBuilder out = new StringBuilder();
      long stored = 0;
      NodeLocator locator = client.getNodeLocator(); // a read-only copy: take it once
      for (String key; (key = in.readLine()) != null;) {
        if (key.isEmpty()) continue;
        if (args[0].equals("store")) {
          if (!client.set(key, 0, "v").get()) {
            System.err.println("ClientSpymemcached: set " + key + " failed");
            return 1;
          }
          stored++;
          continue;
        }
        InetSocketAddress a =
            (InetSocketAddress) locator.getPrimary(key).getSocketAddress();
        out.append(key).append('\t').append(a.getHostString()).append(':').append(a.getPort())
            .append('\n');
      }
      if (args[0].equals("store")) out.append("stored ").append(stored).append('\n');
      System.out.print(out);
      System.out.flush();
    } finally {
      client.shutdown();
    }
    return 0;
  }

  public static void main(String[] args) throws Exception {
    System.exit(run(args));
  }
}
