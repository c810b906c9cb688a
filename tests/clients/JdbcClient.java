// pgjdbc through pgtls: a query, a transaction and a COPY round trip.
//
// Usage: java -cp /usr/share/java/postgresql.jar tests/clients/JdbcClient.java NAME
// (Java 11+ single-file source launch.) Settings come from the environment: PGHOST, PGPORT,
// PGUSER, PGPASSWORD, PGDATABASE and PGSSLROOTCERT (the CA that verifies pgtls). Prints one
// JSON line of results; exits 1 with a message on stderr when something fails.
//
// pgjdbc before 42.7.4 has no channelBinding setting and never uses SCRAM-SHA-256-PLUS, so
// nothing needs turning off; on newer drivers set PGTLS_JDBC_CHANNEL_BINDING=disable.

import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;
import org.postgresql.util.DriverInfo;

public class JdbcClient {
  static final int ROWS = 1000;

  static String env(String name, String fallback) {
    String value = System.getenv(name);
    if (value != null) return value;
    if (fallback != null) return fallback;
    throw new IllegalArgumentException(name + " is not set");
  }

  /** The rows COPY sends: tab-separated id and a payload with non-ASCII text. */
  static String copyData() {
    StringBuilder data = new StringBuilder();
    for (int i = 1; i <= ROWS; i++) {
      data.append(i).append("\tpayload ").append(i).append(" \u00e9\u20ac ").append("x".repeat(i % 200))
          .append('\n');
    }
    return data.toString();
  }

  static Object single(Statement statement, String sql) throws SQLException {
    try (ResultSet rs = statement.executeQuery(sql)) {
      if (!rs.next()) throw new SQLException("no row from " + sql);
      return rs.getObject(1);
    }
  }

  static long count(Connection conn, String table, int id) throws SQLException {
    try (PreparedStatement ps = conn.prepareStatement("SELECT count(*) FROM " + table + " WHERE id = ?")) {
      ps.setInt(1, id);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  static String json(Object value) {
    if (value instanceof String) {
      return "\"" + ((String) value).replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
    return String.valueOf(value);
  }

  public static void main(String[] args) {
    try {
      run(args.length > 0 ? args[0] : "pgjdbc");
    } catch (Exception error) {
      System.err.println("pgjdbc client failed: " + error);
      System.exit(1);
    }
  }

  static void run(String name) throws Exception {
    String table = "clients_" + name;
    String url = "jdbc:postgresql://" + env("PGHOST", "localhost") + ":" + env("PGPORT", null)
        + "/" + env("PGDATABASE", null);
    Properties props = new Properties();
    props.setProperty("user", env("PGUSER", null));
    props.setProperty("password", env("PGPASSWORD", null));
    props.setProperty("ssl", "true");
    props.setProperty("sslmode", "verify-full");
    props.setProperty("sslrootcert", env("PGSSLROOTCERT", null));
    props.setProperty("connectTimeout", "10");
    String channelBinding = System.getenv("PGTLS_JDBC_CHANNEL_BINDING");
    if (channelBinding != null) props.setProperty("channelBinding", channelBinding);

    Map<String, Object> result = new LinkedHashMap<>();
    result.put("client", "pgjdbc");
    result.put("version", DriverInfo.DRIVER_VERSION);
    try (Connection conn = DriverManager.getConnection(url, props);
        Statement st = conn.createStatement()) {
      result.put("answer", single(st, "SELECT 41 + 1"));
      result.put("backend_ssl", single(st, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"));

      st.execute("DROP TABLE IF EXISTS " + table + ", " + table + "_copy");
      st.execute("CREATE TABLE " + table + " (id int PRIMARY KEY, note text)");
      st.execute("CREATE TABLE " + table + "_copy (id int PRIMARY KEY, payload text)");

      conn.setAutoCommit(false);
      st.executeUpdate("INSERT INTO " + table + " VALUES (1, 'rolled back')");
      result.put("tx_rows_inside", count(conn, table, 1));
      conn.rollback();
      result.put("tx_rows_after_rollback", count(conn, table, 1));
      st.executeUpdate("INSERT INTO " + table + " VALUES (2, 'committed')");
      conn.commit();
      conn.setAutoCommit(true);
      result.put("tx_rows_after_commit", count(conn, table, 2));

      String data = copyData();
      CopyManager copy = conn.unwrap(PGConnection.class).getCopyAPI();
      result.put("copy_in_rows",
          copy.copyIn("COPY " + table + "_copy (id, payload) FROM STDIN", new StringReader(data)));
      StringWriter out = new StringWriter();
      long outRows = copy.copyOut(
          "COPY (SELECT id, payload FROM " + table + "_copy ORDER BY id) TO STDOUT", out);
      String back = out.toString();
      result.put("copy_out_rows", outRows);
      result.put("copy_out_matches", back.equals(data));
      result.put("copy_bytes", back.getBytes(StandardCharsets.UTF_8).length);
      result.put("table_rows", single(st, "SELECT count(*) FROM " + table + "_copy"));
    }
    StringBuilder line = new StringBuilder("{");
    for (Map.Entry<String, Object> entry : result.entrySet()) {
      if (line.length() > 1) line.append(", ");
      line.append(json(entry.getKey())).append(": ").append(json(entry.getValue()));
    }
    System.out.println(line.append("}"));
  }
}
