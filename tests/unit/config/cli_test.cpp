// parse_cli / apply_cli / usage_text: argparse-compatible behaviour of gunicorn's flags.
#include <gtest/gtest.h>

#include <cstdint>

#include "config/config.h"

namespace narwhal::config {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

CliResult parse(std::vector<std::string> args) { return parse_cli(args); }

TEST(ParseCli, ValueForms) {
  for (auto args : std::vector<std::vector<std::string>>{
           {"-w", "4"}, {"-w4"}, {"-w=4"}, {"--workers", "4"}, {"--workers=4"}}) {
    CliResult result = parse(args);
    EXPECT_EQ(result.error, "") << args[0];
    EXPECT_EQ(result.values, (Pairs{{"workers", "4"}})) << args[0];
  }
}

// argparse nargs="?" with const (gunicorn 24.1's --proxy-protocol [MODE]).
TEST(ParseCli, OptionalValue) {
  EXPECT_EQ(parse({"--proxy-protocol"}).values, (Pairs{{"proxy_protocol", "auto"}}));
  EXPECT_EQ(parse({"--proxy-protocol", "v2"}).values, (Pairs{{"proxy_protocol", "v2"}}));
  EXPECT_EQ(parse({"--proxy-protocol=v1"}).values, (Pairs{{"proxy_protocol", "v1"}}));
  CliResult before_flag = parse({"--proxy-protocol", "--reload"});
  EXPECT_EQ(before_flag.values, (Pairs{{"proxy_protocol", "auto"}, {"reload", "true"}}));
  // Like argparse, the next word is the value when it does not look like an option.
  CliResult greedy = parse({"--proxy-protocol", "app:app"});
  EXPECT_EQ(greedy.values, (Pairs{{"proxy_protocol", "app:app"}}));
  EXPECT_TRUE(greedy.positional.empty());
  Config config;
  EXPECT_EQ(apply_cli(config, parse({"--proxy-protocol"})), std::nullopt);
  EXPECT_EQ(config.get_string("proxy_protocol"), "auto");
}

TEST(ParseCli, UniquePrefixAbbreviations) {
  EXPECT_EQ(parse({"--thread", "4"}).values, (Pairs{{"threads", "4"}}));
  EXPECT_EQ(parse({"--max-requests-j=5"}).values, (Pairs{{"max_requests_jitter", "5"}}));
  EXPECT_EQ(parse({"--preload"}).values, (Pairs{{"preload_app", "true"}}));  // exact match wins
  EXPECT_EQ(parse({"--work", "4"}).error,
            "ambiguous option: --work could match --worker-class, --worker-connections, --worker-tmp-dir, --workers");
}

TEST(ParseCli, FlagsAndPositional) {
  CliResult result = parse({"--reload", "-D", "--no-sendfile", "--preload", "app:app"});
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.values, (Pairs{{"reload", "true"}, {"daemon", "true"}, {"sendfile", "false"}, {"preload_app", "true"}}));
  EXPECT_EQ(result.flags, (std::vector<std::string>{"--reload", "-D", "--no-sendfile", "--preload"}));
  EXPECT_EQ(result.positional, std::vector<std::string>{"app:app"});
}

TEST(ParseCli, OptionsAfterAppModule) {
  CliResult result = parse({"app:app", "-b", "0.0.0.0:80", "--log-level=debug"});
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.positional, std::vector<std::string>{"app:app"});
  EXPECT_EQ(result.values, (Pairs{{"bind", "0.0.0.0:80"}, {"loglevel", "debug"}}));
}

TEST(ParseCli, GroupedShortFlags) {
  CliResult result = parse({"-DRw3"});
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.values, (Pairs{{"daemon", "true"}, {"enable_stdio_inheritance", "true"}, {"workers", "3"}}));
  EXPECT_EQ(parse({"-Dx"}).error, "argument -D/--daemon: ignored explicit argument 'x'");
}

TEST(ParseCli, AppendRepeats) {
  CliResult result = parse({"-b", "a:1", "--bind", "b:2", "-e", "A=1", "--env=B=2"});
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.values, (Pairs{{"bind", "a:1"}, {"bind", "b:2"}, {"raw_env", "A=1"}, {"raw_env", "B=2"}}));
}

TEST(ParseCli, DoubleDashEndsOptions) {
  CliResult result = parse({"-w", "2", "--", "-app"});
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.positional, std::vector<std::string>{"-app"});
}

TEST(ParseCli, DashAndNegativeNumbersAreValues) {
  CliResult result = parse({"--error-logfile", "-", "--access-logfile", "-", "-w", "-1"});
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.values, (Pairs{{"errorlog", "-"}, {"accesslog", "-"}, {"workers", "-1"}}));
  // A value with a space is never an option (argparse), e.g. a log format starting with '-'.
  result = parse({"--access-logformat", "-%(h)s %(r)s"});
  EXPECT_EQ(result.values, (Pairs{{"access_log_format", "-%(h)s %(r)s"}}));
}

TEST(ParseCli, HelpAndVersion) {
  EXPECT_TRUE(parse({"-h"}).help);
  EXPECT_TRUE(parse({"-w", "2", "--help", "--bogus"}).help);
  EXPECT_EQ(parse({"-w", "2", "--help", "--bogus"}).error, "");
  EXPECT_TRUE(parse({"-v"}).version);
  EXPECT_TRUE(parse({"--version"}).version);
  EXPECT_TRUE(parse({"--vers"}).version);
}

TEST(ParseCli, Errors) {
  EXPECT_EQ(parse({"--foo"}).error, "unrecognized arguments: --foo");
  EXPECT_EQ(parse({"--foo", "--bar=1", "-x"}).error, "unrecognized arguments: --foo --bar=1 -x");
  EXPECT_EQ(parse({"a:app", "b:app"}).error, "unrecognized arguments: b:app");
  // An embedding Application takes any number (argparse's nargs="*" in gunicorn).
  std::vector<std::string> many = {"a", "-w", "2", "b", "c"};
  CliResult any = parse_cli(many, SIZE_MAX);
  EXPECT_EQ(any.error, "");
  EXPECT_EQ(any.positional, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(parse({"-w"}).error, "argument -w/--workers: expected one argument");
  EXPECT_EQ(parse({"--bind", "--reload"}).error, "argument -b/--bind: expected one argument");
  EXPECT_EQ(parse({"-w", "abc"}).error, "argument -w/--workers: invalid int value: 'abc'");
  EXPECT_EQ(parse({"--workers="}).error, "argument -w/--workers: invalid int value: ''");
  EXPECT_EQ(parse({"-m", "rw"}).error, "argument -m/--umask: invalid auto_int value: 'rw'");
  EXPECT_EQ(parse({"--reload=yes"}).error, "argument --reload: ignored explicit argument 'yes'");
  std::string ambiguous = parse({"--log", "x"}).error;
  EXPECT_EQ(ambiguous.rfind("ambiguous option: --log could match ", 0), 0u) << ambiguous;
  EXPECT_NE(ambiguous.find("--log-level"), std::string::npos);
  EXPECT_EQ(parse({"--limit-request-field-size", "10"}).values, (Pairs{{"limit_request_field_size", "10"}}));
  EXPECT_EQ(parse({"--limit-request-field_size", "10"}).values, (Pairs{{"limit_request_field_size", "10"}}));
}

TEST(ApplyCli, AppendReplacesDefaultThenAccumulates) {
  Config config;
  ASSERT_FALSE(config.set("bind", Value(std::string("from-config-file:1"))));
  CliResult cli = parse({"-b", "a:1", "-b", "unix:/tmp/s", "-w", "010", "-m", "022", "--no-sendfile"});
  ASSERT_EQ(cli.error, "");
  ASSERT_FALSE(apply_cli(config, cli));
  EXPECT_EQ(config.get_list("bind"), (StringList{"a:1", "unix:/tmp/s"}));
  EXPECT_EQ(config.get_int("workers"), 10);  // argparse int(): decimal, leading zeros allowed
  EXPECT_EQ(config.get_int("umask"), 18);
  EXPECT_TRUE(config.is_set("sendfile"));
  EXPECT_FALSE(config.get_bool("sendfile"));
}

TEST(ApplyCli, ErrorNamesTheFlag) {
  Config config;
  auto error = apply_cli(config, parse({"--workers", "-3"}));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->setting, "workers");
  EXPECT_EQ(error->message, "Invalid value for workers (--workers): -3 (expected a positive integer)");
  error = apply_cli(config, parse({"--header-map", "keep"}));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message,
            "Invalid value for header_map (--header-map): 'keep' (expected one of drop, refuse, dangerous)");
}

TEST(UsageText, ListsEveryFlagBySection) {
  std::string usage = usage_text("narwhal");
  EXPECT_EQ(usage.rfind("usage: narwhal [OPTIONS] [APP_MODULE]\n", 0), 0u);
  for (const auto& setting : settings_table()) {
    for (const auto& flag : setting.flags) EXPECT_NE(usage.find(flag), std::string::npos) << flag;
    if (!setting.flags.empty()) {
      EXPECT_NE(usage.find("\n" + setting.section + ":\n"), std::string::npos);
    }
  }
  EXPECT_NE(usage.find("  -w INT, --workers INT\n"), std::string::npos);
  EXPECT_NE(usage.find("  --backlog INT         The maximum number of pending connections. [2048]\n"),
            std::string::npos);
  EXPECT_EQ(usage.find("Server Hooks:"), std::string::npos);  // config-file only
  for (size_t start = 0, end; (end = usage.find('\n', start)) != std::string::npos; start = end + 1) {
    std::string_view line(usage.data() + start, end - start);
    if (line.find(' ', 24) != std::string_view::npos) {
      EXPECT_LE(line.size(), 80u) << line;
    }
  }
}

}  // namespace
}  // namespace narwhal::config
