// The settings table and Config defaults.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"

namespace narwhal::config {
namespace {

// Sets an environment variable for the lifetime of the guard.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(SettingsTable, HasGunicornSettings) {
  const char* names[] = {
      "config", "wsgi_app", "bind", "backlog", "workers", "worker_class", "threads",
      "worker_connections", "max_requests", "max_requests_jitter", "timeout", "graceful_timeout",
      "keepalive", "limit_request_line", "limit_request_fields", "limit_request_field_size",
      "limit_request_body", "header_map", "permit_unconventional_http_method",
      "permit_unconventional_http_version", "casefold_http_method", "reload", "reload_engine",
      "reload_extra_files", "spew", "check_config", "print_config", "preload_app", "sendfile",
      "reuse_port", "chdir", "daemon", "raw_env", "pidfile", "worker_tmp_dir", "user", "group",
      "umask", "initgroups", "tmp_upload_dir", "secure_scheme_headers", "forwarded_allow_ips",
      "accesslog", "disable_redirect_access_to_syslog", "access_log_format", "errorlog", "loglevel",
      "capture_output", "logger_class", "logconfig", "logconfig_dict", "logconfig_json", "syslog",
      "syslog_addr", "syslog_prefix", "syslog_facility", "enable_stdio_inheritance", "statsd_host",
      "statsd_prefix", "dogstatsd_tags", "proc_name", "default_proc_name", "pythonpath", "paste",
      "proxy_protocol", "proxy_allow_ips", "keyfile", "certfile", "ssl_version", "cert_reqs",
      "ca_certs", "suppress_ragged_eofs", "do_handshake_on_connect", "ciphers",
      "raw_paste_global_conf", "strip_header_spaces", "permit_obsolete_folding", "forwarder_headers",
      "tolerate_dangerous_framing", "on_starting", "on_reload", "when_ready", "pre_fork",
      "post_fork", "post_worker_init", "worker_int", "worker_abort", "pre_exec", "pre_request",
      "post_request", "child_exit", "worker_exit", "nworkers_changed", "on_exit", "ssl_context",
      "http_parser", "protocol", "uwsgi_allow_ips"};
  for (const char* name : names) EXPECT_NE(find_setting(name), nullptr) << name;
  EXPECT_EQ(find_setting("no_such_setting"), nullptr);
}

TEST(SettingsTable, RowsAreWellFormed) {
  std::set<std::string> names;
  std::set<std::string> flags;
  for (const auto& setting : settings_table()) {
    EXPECT_TRUE(names.insert(setting.name).second) << "duplicate " << setting.name;
    EXPECT_FALSE(setting.section.empty()) << setting.name;
    EXPECT_FALSE(setting.short_doc.empty()) << setting.name;
    EXPECT_FALSE(setting.default_text.empty()) << setting.name;
    EXPECT_TRUE(static_cast<bool>(setting.validate)) << setting.name;
    for (const auto& flag : setting.flags) {
      EXPECT_TRUE(flags.insert(flag).second) << "duplicate flag " << flag;
      EXPECT_EQ(flag[0], '-') << flag;
      EXPECT_TRUE(flag.starts_with("--") || flag.size() == 2) << flag;
    }
    if (setting.type == Type::Callable) {
      EXPECT_TRUE(setting.flags.empty()) << setting.name;
    }
    if (setting.action == Action::Append) {
      EXPECT_EQ(setting.type, Type::StringList) << setting.name;
    }
    if (setting.cli_value != Setting::CliValue::Text) {
      EXPECT_EQ(setting.type, Type::Int) << setting.name;
    }
  }
  EXPECT_FALSE(flags.contains("-h"));
  EXPECT_FALSE(flags.contains("-v"));
}

// Every static default passes its own validator unchanged (settings with computed defaults
// normalise theirs, e.g. chdir "." becomes the absolute cwd).
TEST(SettingsTable, DefaultsValidate) {
  for (const auto& setting : settings_table()) {
    Value out;
    auto form = setting.validate(setting, setting.default_value, out);
    if (setting.type == Type::Callable) {
      EXPECT_TRUE(form.has_value()) << setting.name;  // None is not a callable; only the default
      continue;
    }
    ASSERT_FALSE(form.has_value()) << setting.name << ": " << *form;
    if (!setting.computed_default) {
      EXPECT_EQ(repr_value(out), repr_value(setting.default_value)) << setting.name;
    }
  }
}

TEST(ConfigDefaults, MatchGunicorn) {
  ScopedEnv port("PORT", "");
  ::unsetenv("PORT");
  ::unsetenv("WEB_CONCURRENCY");
  ::unsetenv("FORWARDED_ALLOW_IPS");
  Config config;
  EXPECT_TRUE(config.default_errors().empty());
  EXPECT_EQ(config.get_list("bind"), StringList{"127.0.0.1:8000"});
  EXPECT_EQ(config.get_int("backlog"), 2048);
  EXPECT_EQ(config.get_int("workers"), 1);
  EXPECT_EQ(config.get_string("worker_class"), "sync");
  EXPECT_EQ(config.get_int("threads"), 1);
  EXPECT_EQ(config.get_int("worker_connections"), 1000);
  EXPECT_EQ(config.get_int("max_requests"), 0);
  EXPECT_EQ(config.get_int("timeout"), 30);
  EXPECT_EQ(config.get_int("graceful_timeout"), 30);
  EXPECT_EQ(config.get_int("keepalive"), 2);
  EXPECT_EQ(config.get_int("limit_request_line"), 4094);
  EXPECT_EQ(config.get_int("limit_request_fields"), 100);
  EXPECT_EQ(config.get_int("limit_request_field_size"), 8190);
  EXPECT_EQ(config.get_int("limit_request_body"), 0);
  EXPECT_EQ(config.get_string("header_map"), "drop");
  EXPECT_EQ(config.get_string("errorlog"), "-");
  EXPECT_EQ(config.get_string("loglevel"), "info");
  EXPECT_EQ(config.get_string("access_log_format"), "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\"");
  EXPECT_FALSE(config.is_set("accesslog"));
  EXPECT_FALSE(config.is_set("config"));
  EXPECT_FALSE(config.is_set("sendfile"));
  EXPECT_FALSE(config.is_set("on_starting"));
  EXPECT_TRUE(config.get_bool("suppress_ragged_eofs"));
  EXPECT_FALSE(config.get_bool("daemon"));
  EXPECT_EQ(config.get_list("forwarded_allow_ips"), (StringList{"127.0.0.1", "::1"}));
  EXPECT_EQ(config.get_map("secure_scheme_headers"),
            (StringMap{{"X-FORWARDED-PROTOCOL", "ssl"}, {"X-FORWARDED-PROTO", "https"}, {"X-FORWARDED-SSL", "on"}}));
  EXPECT_EQ(config.get_int("user"), static_cast<int64_t>(::geteuid()));
  EXPECT_EQ(config.get_int("group"), static_cast<int64_t>(::getegid()));
  EXPECT_EQ(config.get_int("umask"), 0);
  EXPECT_EQ(config.get_string("chdir")[0], '/');
  EXPECT_EQ(config.get_string("accesslog"), "");
}

TEST(ConfigDefaults, EnvironmentOverridesDefaults) {
  ScopedEnv workers("WEB_CONCURRENCY", "4");
  ScopedEnv port("PORT", "9000");
  ScopedEnv forwarded("FORWARDED_ALLOW_IPS", "10.0.0.1, 10.0.0.0/8");
  Config config;
  EXPECT_TRUE(config.default_errors().empty());
  EXPECT_EQ(config.get_int("workers"), 4);
  EXPECT_EQ(config.get_list("bind"), StringList{"0.0.0.0:9000"});
  EXPECT_EQ(config.get_list("forwarded_allow_ips"), (StringList{"10.0.0.1", "10.0.0.0/8"}));
}

TEST(ConfigDefaults, InvalidEnvironmentKeepsStaticDefault) {
  ScopedEnv workers("WEB_CONCURRENCY", "abc");
  Config config;
  EXPECT_EQ(config.get_int("workers"), 1);
  ASSERT_EQ(config.default_errors().size(), 1u);
  EXPECT_EQ(config.default_errors()[0].setting, "workers");
  EXPECT_NE(config.default_errors()[0].message.find("Invalid value for workers: 'abc' (expected a positive integer)"),
            std::string::npos);
}

TEST(ConfigSet, UnknownNameIsAnError) {
  Config config;
  auto error = config.set("nope", Value(int64_t{1}));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->setting, "nope");
  EXPECT_EQ(error->message, "No configuration setting for: nope");
}

TEST(ConfigSet, InvalidValueKeepsPreviousValue) {
  Config config;
  ASSERT_FALSE(config.set("workers", Value(int64_t{3})));
  auto error = config.set("workers", Value(std::string("abc")));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message, "Invalid value for workers: 'abc' (expected a positive integer)");
  EXPECT_EQ(config.get_int("workers"), 3);
}

TEST(ConfigSet, AppendExtendsTheList) {
  Config config;
  ASSERT_FALSE(config.set("bind", Value(std::string("127.0.0.1:9000"))));
  ASSERT_FALSE(config.set("bind", Value(std::string("unix:/tmp/n.sock")), true));
  EXPECT_EQ(config.get_list("bind"), (StringList{"127.0.0.1:9000", "unix:/tmp/n.sock"}));
  ASSERT_FALSE(config.set("bind", Value(StringList{"[::1]:80"})));
  EXPECT_EQ(config.get_list("bind"), StringList{"[::1]:80"});
}

TEST(ConfigSet, FlagIsNamedInMessage) {
  Config config;
  auto error = config.set_from_flag("workers", Value(int64_t{-2}), false, "-w");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message, "Invalid value for workers (-w): -2 (expected a positive integer)");
}

TEST(ConfigDerived, ProcNameEnvSendfileSsl) {
  Config config;
  EXPECT_EQ(config.proc_name(), "narwhal");
  ASSERT_FALSE(config.set("default_proc_name", Value(std::string("app:app"))));
  EXPECT_EQ(config.proc_name(), "app:app");
  ASSERT_FALSE(config.set("proc_name", Value(std::string("web"))));
  EXPECT_EQ(config.proc_name(), "web");

  ASSERT_FALSE(config.set("raw_env", Value(StringList{"A=1", "B=x=y"})));
  EXPECT_EQ(config.env(), (StringMap{{"A", "1"}, {"B", "x=y"}}));

  // gunicorn's paste_global_conf: split at the first '=' not written "\=", then "\=" → '='.
  EXPECT_EQ(config.paste_global_conf(), StringMap{});
  ASSERT_FALSE(config.set("raw_paste_global_conf", Value(StringList{"A=1", "B=x=y", "C\\=D=e\\=f", "=empty"})));
  EXPECT_EQ(config.paste_global_conf(), (StringMap{{"A", "1"}, {"B", "x=y"}, {"C=D", "e=f"}, {"", "empty"}}));

  {
    ScopedEnv sendfile("SENDFILE", "no");
    EXPECT_FALSE(config.sendfile());
  }
  {
    ScopedEnv sendfile("SENDFILE", "YES");
    EXPECT_TRUE(config.sendfile());
    ASSERT_FALSE(config.set("sendfile", Value(std::string("false"))));
    EXPECT_FALSE(config.sendfile());
  }

  // worker_class with threads: tests/unit/workers/registry_test.cpp.

  EXPECT_FALSE(config.is_ssl());
  ASSERT_FALSE(config.set("certfile", Value(std::string("/etc/cert.pem"))));
  EXPECT_TRUE(config.is_ssl());
}

std::vector<std::string> unsupported_names(const Config& config) {
  std::vector<std::string> names;
  for (const Setting* setting : config.unsupported_settings()) names.push_back(setting->name);
  return names;
}

// Nothing accepted is silently ignored: rows say what narwhal does not honour yet.
TEST(SettingSupport, RowsMarkWhatNarwhalDoesNotHonour) {
  for (const char* name : {"worker_tmp_dir", "tmp_upload_dir"}) {
    EXPECT_EQ(find_setting(name)->support, Setting::Support::Ignored) << name;
  }
  for (const char* name : {"bind", "workers", "timeout", "keepalive", "accesslog", "max_requests", "reload", "threads",
                           "statsd_host", "statsd_prefix", "dogstatsd_tags", "enable_backlog_metric", "syslog",
                           "syslog_addr", "syslog_prefix", "syslog_facility", "disable_redirect_access_to_syslog",
                           "capture_output", "paste", "raw_paste_global_conf", "http_parser", "certfile",
                           "keyfile", "ciphers", "ssl_context", "ca_certs", "cert_reqs", "http_protocols",
                           "http2_cleartext", "http2_max_concurrent_streams", "proxy_protocol",
                           "proxy_allow_ips", "protocol", "uwsgi_allow_ips", "logconfig",
                           "logconfig_dict", "logconfig_json", "logger_class"}) {
    EXPECT_EQ(find_setting(name)->support, Setting::Support::Honoured) << name;
  }
  for (const Setting& setting : settings_table()) {
    if (setting.support == Setting::Support::Refused) {
      EXPECT_FALSE(setting.support_note.empty()) << setting.name;
    }
  }
}

TEST(SettingSupport, OnlyNonDefaultValuesCount) {
  Config config;
  EXPECT_TRUE(unsupported_names(config).empty());
  ASSERT_FALSE(config.set("suppress_ragged_eofs", Value(true)));  // its default, set explicitly
  ASSERT_FALSE(config.set("do_handshake_on_connect", Value(false)));
  EXPECT_TRUE(unsupported_names(config).empty());
  ASSERT_FALSE(config.set("workers", Value(int64_t{4})));  // honoured
  ASSERT_FALSE(config.set("logconfig", Value(std::string("/etc/narwhal/logging.ini"))));  // honoured
  ASSERT_FALSE(config.set("ca_certs", Value(std::string("/etc/ca.pem"))));
  ASSERT_FALSE(config.set("certfile", Value(std::string("/etc/cert.pem"))));
  ASSERT_FALSE(config.set("ssl_context", Value(Callable{nullptr, "<function ssl_context>"})));
  EXPECT_TRUE(unsupported_names(config).empty());
  ASSERT_FALSE(config.set("tmp_upload_dir", Value(std::string("/var/tmp"))));
  EXPECT_EQ(unsupported_names(config), (std::vector<std::string>{"tmp_upload_dir"}));
}

TEST(SettingSupport, PrintConfigMarksThem) {
  Config config;
  std::string text = config.print_config();
  EXPECT_NE(text.find("# no effect in narwhal yet"), std::string::npos);
  size_t upload = text.find("\ntmp_upload_dir ");
  ASSERT_NE(upload, std::string::npos);
  EXPECT_NE(text.substr(upload, text.find('\n', upload + 1) - upload).find("# no effect in narwhal yet"),
            std::string::npos);
  size_t workers = text.find("\nworkers ");
  EXPECT_EQ(text.substr(workers, text.find('\n', workers + 1) - workers).find('#'), std::string::npos);
}

TEST(ConfigGet, NoneReadsAsFalseAndEmpty) {
  Config config;
  EXPECT_FALSE(config.get_bool("sendfile"));
  EXPECT_EQ(config.get_string("pidfile"), "");
  ASSERT_FALSE(config.set("pidfile", Value(std::string(" /run/n.pid "))));
  EXPECT_TRUE(config.is_set("pidfile"));
  EXPECT_EQ(config.get_string("pidfile"), "/run/n.pid");
  ASSERT_FALSE(config.set("pidfile", Value()));
  EXPECT_FALSE(config.is_set("pidfile"));
}

TEST(ConfigGetDeathTest, UnknownNameAborts) {
  Config config;
  EXPECT_DEATH(config.get("nope"), "unknown setting");
  EXPECT_DEATH(config.get_int("bind"), "wrong type");
}

}  // namespace
}  // namespace narwhal::config
