// Every validator: accepted values, normalisation, rejected values and the message text.
#include <gtest/gtest.h>
#include <unistd.h>

#include "config/config.h"
#include "config/validators.h"

namespace narwhal::config {
namespace {

Value text(const char* value) { return Value(std::string(value)); }
Value integer(int64_t value) { return Value(value); }
Value list(StringList value) { return Value(std::move(value)); }

// Sets `name` on a fresh Config; returns the stored value's repr, or the error message.
std::string set_one(const char* name, const Value& raw) {
  Config config;
  if (auto error = config.set(name, raw)) return "error: " + error->message;
  return repr_value(config.get(name));
}

TEST(ParseText, IntBase0LikePython) {
  EXPECT_EQ(parse_int_base0("12"), 12);
  EXPECT_EQ(parse_int_base0(" 12 "), 12);
  EXPECT_EQ(parse_int_base0("+7"), 7);
  EXPECT_EQ(parse_int_base0("-7"), -7);
  EXPECT_EQ(parse_int_base0("0x1F"), 31);
  EXPECT_EQ(parse_int_base0("0o17"), 15);
  EXPECT_EQ(parse_int_base0("0b101"), 5);
  EXPECT_EQ(parse_int_base0("1_000"), 1000);
  EXPECT_EQ(parse_int_base0("0x_ff"), 255);
  EXPECT_EQ(parse_int_base0("0"), 0);
  EXPECT_EQ(parse_int_base0("00"), 0);
  EXPECT_EQ(parse_int_base0("010"), std::nullopt);  // Python: invalid literal
  EXPECT_EQ(parse_int_base0(""), std::nullopt);
  EXPECT_EQ(parse_int_base0("abc"), std::nullopt);
  EXPECT_EQ(parse_int_base0("1__0"), std::nullopt);
  EXPECT_EQ(parse_int_base0("_1"), std::nullopt);
  EXPECT_EQ(parse_int_base0("1_"), std::nullopt);
  EXPECT_EQ(parse_int_base0("1.5"), std::nullopt);
  EXPECT_EQ(parse_int_base0("99999999999999999999"), std::nullopt);
  EXPECT_EQ(parse_int_base0("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(parse_int_base0("-9223372036854775808"), INT64_MIN);
}

TEST(ParseText, DecimalAndAutoInt) {
  EXPECT_EQ(parse_int_decimal("010"), 10);
  EXPECT_EQ(parse_int_decimal(" -3 "), -3);
  EXPECT_EQ(parse_int_decimal("0x10"), std::nullopt);
  EXPECT_EQ(parse_auto_int("022"), 18);
  EXPECT_EQ(parse_auto_int("0o22"), 18);
  EXPECT_EQ(parse_auto_int("0x12"), 18);
  EXPECT_EQ(parse_auto_int("18"), 18);
  EXPECT_EQ(parse_auto_int("0"), 0);
  EXPECT_EQ(parse_auto_int("089"), std::nullopt);
  EXPECT_EQ(parse_auto_int("x"), std::nullopt);
}

TEST(ParseText, Bool) {
  for (const char* yes : {"true", "TRUE", " True ", "1", "yes", "On"}) EXPECT_EQ(parse_bool_text(yes), true) << yes;
  for (const char* no : {"false", "False", "0", "no", "OFF"}) EXPECT_EQ(parse_bool_text(no), false) << no;
  for (const char* bad : {"", "2", "maybe", "t"}) EXPECT_EQ(parse_bool_text(bad), std::nullopt) << bad;
}

TEST(Validators, PositiveInt) {
  EXPECT_EQ(set_one("workers", integer(4)), "4");
  EXPECT_EQ(set_one("workers", text("4")), "4");
  EXPECT_EQ(set_one("workers", text("0x10")), "16");
  EXPECT_EQ(set_one("workers", integer(0)), "0");
  EXPECT_EQ(set_one("workers", text("abc")),
            "error: Invalid value for workers: 'abc' (expected a positive integer)");
  EXPECT_EQ(set_one("workers", integer(-1)),
            "error: Invalid value for workers: -1 (expected a positive integer)");
  EXPECT_EQ(set_one("timeout", Value(true)),
            "error: Invalid value for timeout: True (expected a positive integer)");
  EXPECT_EQ(set_one("timeout", Value(2.5)),
            "error: Invalid value for timeout: 2.5 (expected a positive integer)");
  EXPECT_EQ(set_one("backlog", Value()), "error: Invalid value for backlog: None (expected a positive integer)");
}

TEST(Validators, RequestLimitsClampLikeGunicorn) {
  EXPECT_EQ(set_one("limit_request_line", integer(0)), "0");
  EXPECT_EQ(set_one("limit_request_line", integer(8190)), "8190");
  EXPECT_EQ(set_one("limit_request_line", integer(10000)), "8190");
  EXPECT_EQ(set_one("limit_request_fields", integer(0)), "32768");
  EXPECT_EQ(set_one("limit_request_fields", integer(40000)), "32768");
  EXPECT_EQ(set_one("limit_request_fields", integer(5)), "5");
  EXPECT_EQ(set_one("limit_request_field_size", integer(0)), "0");
  EXPECT_EQ(set_one("limit_request_body", integer(1 << 20)), "1048576");
  EXPECT_EQ(set_one("limit_request_line", integer(-1)),
            "error: Invalid value for limit_request_line: -1 (expected a positive integer)");
}

TEST(Validators, Bool) {
  EXPECT_EQ(set_one("daemon", Value(true)), "True");
  EXPECT_EQ(set_one("daemon", text("yes")), "True");
  EXPECT_EQ(set_one("daemon", text("Off")), "False");
  EXPECT_EQ(set_one("daemon", Value()), "None");
  EXPECT_EQ(set_one("reload", text("sure")),
            "error: Invalid value for reload: 'sure' (expected a boolean (true/false, yes/no, on/off, 1/0))");
  EXPECT_EQ(set_one("reload", integer(1)),
            "error: Invalid value for reload: 1 (expected a boolean (true/false, yes/no, on/off, 1/0))");
}

TEST(Validators, Strings) {
  EXPECT_EQ(set_one("worker_class", text("  gthread ")), "'gthread'");
  EXPECT_EQ(set_one("worker_class", text("uvicorn.workers.UvicornWorker")), "'uvicorn.workers.UvicornWorker'");
  EXPECT_EQ(set_one("worker_class", Value(Callable{nullptr, "<MyWorker()>"})), "<MyWorker()>");
  EXPECT_EQ(set_one("worker_class", text("")),
            "error: Invalid value for worker_class: '' (expected a class name (e.g. sync or module.Class) or a class)");
  EXPECT_EQ(set_one("statsd_prefix", text(" app ")), "'app'");
  EXPECT_EQ(set_one("statsd_prefix", integer(3)), "error: Invalid value for statsd_prefix: 3 (expected a string)");
  EXPECT_EQ(set_one("statsd_prefix", Value()), "error: Invalid value for statsd_prefix: None (expected a string)");
  EXPECT_EQ(set_one("accesslog", text("-")), "'-'");
  EXPECT_EQ(set_one("accesslog", Value()), "None");
  EXPECT_EQ(set_one("accesslog", list({"a"})),
            "error: Invalid value for accesslog: ['a'] (expected a string or None)");
}

TEST(Validators, Choices) {
  EXPECT_EQ(set_one("header_map", text("Refuse")), "'refuse'");
  EXPECT_EQ(set_one("header_map", text("dangerous")), "'dangerous'");
  EXPECT_EQ(set_one("header_map", text("keep")),
            "error: Invalid value for header_map: 'keep' (expected one of drop, refuse, dangerous)");
  EXPECT_EQ(set_one("loglevel", text("DEBUG")), "'debug'");
  EXPECT_EQ(set_one("loglevel", text("verbose")),
            "error: Invalid value for loglevel: 'verbose' (expected one of debug, info, warning, error, critical)");
  EXPECT_EQ(set_one("reload_engine", text("poll")), "'poll'");
  EXPECT_EQ(set_one("reload_engine", text("fsevents")),
            "error: Invalid value for reload_engine: 'fsevents' (expected one of auto, poll, inotify)");
}

TEST(Validators, ListOfStrings) {
  EXPECT_EQ(set_one("raw_paste_global_conf", text("A=1")), "['A=1']");
  EXPECT_EQ(set_one("raw_paste_global_conf", list({" a=1 ", "b=2"})), "['a=1', 'b=2']");
  EXPECT_EQ(set_one("raw_paste_global_conf", Value()), "[]");
  EXPECT_EQ(set_one("raw_paste_global_conf", text("")), "[]");
  EXPECT_EQ(set_one("raw_paste_global_conf", integer(1)),
            "error: Invalid value for raw_paste_global_conf: 1 (expected a list of KEY=VALUE strings (a literal = "
            "written \\=))");
  EXPECT_EQ(set_one("raw_paste_global_conf", list({"A\\=1"})).substr(0, 6), "error:");  // no unescaped '='
  EXPECT_EQ(set_one("raw_paste_global_conf", text("FOO")),
            "error: Invalid value for raw_paste_global_conf: 'FOO' (expected a list of KEY=VALUE strings (a literal "
            "= written \\=))");
}

TEST(Validators, HttpParserTakesGunicornsValues) {
  EXPECT_EQ(set_one("http_parser", text("auto")), "'auto'");
  EXPECT_EQ(set_one("http_parser", text(" Fast ")), "'fast'");
  EXPECT_EQ(set_one("http_parser", text("PYTHON")), "'python'");
  EXPECT_EQ(set_one("http_parser", text("llhttp")),
            "error: Invalid value for http_parser: 'llhttp' (expected one of auto, python, fast)");
}

TEST(Validators, CommaSeparatedLists) {
  EXPECT_EQ(set_one("forwarded_allow_ips", text("10.0.0.1, ::1,,192.168.0.0/16")),
            "['10.0.0.1', '::1', '192.168.0.0/16']");
  EXPECT_EQ(set_one("forwarded_allow_ips", text("*")), "['*']");
  EXPECT_EQ(set_one("forwarded_allow_ips", list({"127.0.0.1", "fe80::/10"})), "['127.0.0.1', 'fe80::/10']");
  EXPECT_EQ(set_one("forwarded_allow_ips", text("")), "[]");
  // proxy_protocol (gunicorn 24.1): off | v1 | v2 | auto; a boolean from an older config file.
  EXPECT_EQ(set_one("proxy_protocol", text("V1")), "'v1'");
  EXPECT_EQ(set_one("proxy_protocol", text(" auto ")), "'auto'");
  EXPECT_EQ(set_one("proxy_protocol", Value(true)), "'auto'");
  EXPECT_EQ(set_one("proxy_protocol", Value(false)), "'off'");
  EXPECT_EQ(set_one("proxy_protocol", Value()), "'off'");
  EXPECT_EQ(set_one("proxy_protocol", text("v3")).substr(0, 6), "error:");
  EXPECT_EQ(set_one("protocol", text("UWSGI")), "'uwsgi'");
  EXPECT_EQ(set_one("protocol", text("fastcgi")).substr(0, 6), "error:");
  EXPECT_EQ(set_one("uwsgi_allow_ips", text("10.0.0.0/8, ::1")), "['10.0.0.0/8', '::1']");
  EXPECT_EQ(set_one("proxy_allow_ips", text("localhost")),
            "error: Invalid value for proxy_allow_ips: 'localhost' (expected a comma-separated list of IP "
            "addresses or networks, or '*')");
  EXPECT_EQ(set_one("proxy_allow_ips", text("10.0.0.0/33")).substr(0, 6), "error:");
  EXPECT_EQ(set_one("forwarder_headers", text("SCRIPT_NAME, REMOTE_USER")), "['SCRIPT_NAME', 'REMOTE_USER']");
}

TEST(Validators, Bind) {
  for (const char* good : {"127.0.0.1:8000", "0.0.0.0", "localhost:80", "[::1]:8000", "[::]", "unix:/tmp/a.sock",
                           "unix:///tmp/a.sock", "fd://3", "tcp://127.0.0.1:80", ""}) {
    EXPECT_EQ(check_bind_address(good), std::nullopt) << good;
  }
  for (const char* bad : {"host:port", "::1:8000", "[::1", "[::1]x", "unix:", "fd://x", "host:99999", "h:"}) {
    EXPECT_NE(check_bind_address(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(set_one("bind", text("0.0.0.0:80")), "['0.0.0.0:80']");
  EXPECT_EQ(set_one("bind", list({"a:1", "unix:/x"})), "['a:1', 'unix:/x']");
  EXPECT_EQ(set_one("bind", list({"a:1", "b:c"})),
            "error: Invalid value for bind: ['a:1', 'b:c'] (expected a list of HOST, HOST:PORT, [IPV6]:PORT, "
            "unix:PATH or fd://FD)");
}

TEST(Validators, RawEnv) {
  EXPECT_EQ(set_one("raw_env", text("FOO=1")), "['FOO=1']");
  EXPECT_EQ(set_one("raw_env", list({"A=", "B=c=d"})), "['A=', 'B=c=d']");
  EXPECT_EQ(set_one("raw_env", text("FOO")),
            "error: Invalid value for raw_env: 'FOO' (expected a list of KEY=VALUE strings)");
  EXPECT_EQ(set_one("raw_env", list({"=1"})).substr(0, 6), "error:");
}

TEST(Validators, DictAndCallable) {
  EXPECT_EQ(set_one("secure_scheme_headers", Value(StringMap{{"X-PROTO", "https"}})), "{'X-PROTO': 'https'}");
  EXPECT_EQ(set_one("logconfig_dict", Value(StringMap{})), "{}");
  EXPECT_EQ(set_one("secure_scheme_headers", text("x")),
            "error: Invalid value for secure_scheme_headers: 'x' (expected a dictionary)");
  EXPECT_EQ(set_one("post_fork", Value(Callable{nullptr, "<post_fork()>"})), "<post_fork()>");
  EXPECT_EQ(set_one("post_fork", text("mod.func")),
            "error: Invalid value for post_fork: 'mod.func' (expected a callable)");
  EXPECT_EQ(set_one("on_exit", Value()), "error: Invalid value for on_exit: None (expected a callable)");
}

TEST(Validators, Umask) {
  EXPECT_EQ(set_one("umask", text("0o22")), "18");
  EXPECT_EQ(set_one("umask", text("022")), "18");
  EXPECT_EQ(set_one("umask", text("18")), "18");
  EXPECT_EQ(set_one("umask", integer(0777)), "511");
  EXPECT_EQ(set_one("umask", text("rwx")),
            "error: Invalid value for umask: 'rwx' (expected a file mode mask such as 0o22, 022 or 18)");
  EXPECT_EQ(set_one("umask", integer(-1)).substr(0, 6), "error:");
}

TEST(Validators, UserAndGroup) {
  EXPECT_EQ(set_one("user", integer(1000)), "1000");
  EXPECT_EQ(set_one("user", text("1000")), "1000");
  EXPECT_EQ(set_one("user", text("root")), "0");
  EXPECT_EQ(set_one("user", Value()), std::to_string(::geteuid()));
  EXPECT_EQ(set_one("user", text("no-such-user-here")),
            "error: Invalid value for user: 'no-such-user-here' (expected a user name or a numeric uid)");
  EXPECT_EQ(set_one("group", text("root")), "0");
  EXPECT_EQ(set_one("group", text("55")), "55");
  EXPECT_EQ(set_one("group", text("no-such-group-here")),
            "error: Invalid value for group: 'no-such-group-here' (expected a group name or a numeric gid)");
}

TEST(Validators, ChdirAndFiles) {
  EXPECT_EQ(set_one("chdir", text("/tmp/../tmp/")), "'/tmp'");
  EXPECT_EQ(set_one("chdir", text("/does/not/exist")),
            "error: Invalid value for chdir: '/does/not/exist' (expected an existing directory)");
  EXPECT_EQ(set_one("reload_extra_files", list({"/etc/hostname", "/tmp"})), "['/etc/hostname', '/tmp']");
  EXPECT_EQ(set_one("reload_extra_files", text("/does/not/exist")),
            "error: Invalid value for reload_extra_files: '/does/not/exist' (expected a list of existing files)");
}

TEST(Validators, StatsdAndSslVersion) {
  EXPECT_EQ(set_one("statsd_host", text("localhost:8125")), "'localhost:8125'");
  EXPECT_EQ(set_one("statsd_host", text("localhost")), "'localhost'");
  EXPECT_EQ(set_one("statsd_host", text("unix:///run/statsd.sock")), "'unix:///run/statsd.sock'");
  EXPECT_EQ(set_one("statsd_host", text("unix:8125")), "'unix:8125'");
  EXPECT_EQ(set_one("statsd_host", Value()), "None");
  EXPECT_EQ(set_one("statsd_host", text("a:b")),
            "error: Invalid value for statsd_host: 'a:b' (expected HOST:PORT, HOST or unix://PATH)");
  EXPECT_EQ(set_one("ssl_version", text("TLSv1_2")), "5");
  EXPECT_EQ(set_one("ssl_version", text("PROTOCOL_TLS_SERVER")), "17");
  EXPECT_EQ(set_one("ssl_version", integer(2)), "2");
  EXPECT_EQ(set_one("ssl_version", text("TLSv9")).substr(0, 6), "error:");
}

TEST(Validators, Float) {
  Setting setting{.name = "f", .section = "s", .flags = {}, .metavar = "", .type = Type::Float,
                  .action = Action::Store, .default_value = 0.0, .default_text = "0.0",
                  .validate = validate_float(), .short_doc = "", .doc = ""};
  Value out;
  EXPECT_FALSE(setting.validate(setting, text("2.5"), out));
  EXPECT_EQ(repr_value(out), "2.5");
  EXPECT_FALSE(setting.validate(setting, integer(3), out));
  EXPECT_EQ(repr_value(out), "3.0");
  EXPECT_EQ(setting.validate(setting, text("x"), out), "a non-negative number");
  EXPECT_EQ(setting.validate(setting, Value(-1.0), out), "a non-negative number");
}

}  // namespace
}  // namespace narwhal::config
