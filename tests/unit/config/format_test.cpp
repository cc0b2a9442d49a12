// Python str()/repr() of values, --print-config layout, shlex.split.
#include <gtest/gtest.h>

#include "config/config.h"

namespace narwhal::config {
namespace {

TEST(FormatValue, PythonStr) {
  EXPECT_EQ(format_value(Value()), "None");
  EXPECT_EQ(format_value(Value(true)), "True");
  EXPECT_EQ(format_value(Value(false)), "False");
  EXPECT_EQ(format_value(Value(int64_t{-42})), "-42");
  EXPECT_EQ(format_value(Value(std::string("plain text"))), "plain text");
  EXPECT_EQ(format_value(Value(StringList{"127.0.0.1:8000"})), "['127.0.0.1:8000']");
  EXPECT_EQ(format_value(Value(StringList{})), "[]");
  EXPECT_EQ(format_value(Value(StringMap{{"K", "v"}, {"A", "b"}})), "{'K': 'v', 'A': 'b'}");
  EXPECT_EQ(format_value(Value(Callable{nullptr, "<Prefork.pre_fork()>"})), "<Prefork.pre_fork()>");
}

TEST(FormatValue, PythonFloatRepr) {
  EXPECT_EQ(format_value(Value(30.0)), "30.0");
  EXPECT_EQ(format_value(Value(0.1)), "0.1");
  EXPECT_EQ(format_value(Value(1.5)), "1.5");
  EXPECT_EQ(format_value(Value(0.0)), "0.0");
  EXPECT_EQ(format_value(Value(-2.25)), "-2.25");
  EXPECT_EQ(format_value(Value(1234.5)), "1234.5");
  EXPECT_EQ(format_value(Value(0.0001)), "0.0001");
  EXPECT_EQ(format_value(Value(0.00001)), "1e-05");
  EXPECT_EQ(format_value(Value(1e16)), "1e+16");
  EXPECT_EQ(format_value(Value(1.5e16)), "1.5e+16");
  EXPECT_EQ(format_value(Value(1e15)), "1000000000000000.0");
}

TEST(ReprValue, PythonStringQuoting) {
  EXPECT_EQ(repr_value(Value(std::string("abc"))), "'abc'");
  EXPECT_EQ(repr_value(Value(std::string("it's"))), "\"it's\"");
  EXPECT_EQ(repr_value(Value(std::string("a'b\"c"))), "'a\\'b\"c'");
  EXPECT_EQ(repr_value(Value(std::string("back\\slash"))), "'back\\\\slash'");
  EXPECT_EQ(repr_value(Value(std::string("tab\tnl\n\x01"))), "'tab\\tnl\\n\\x01'");
  EXPECT_EQ(repr_value(Value(std::string("caf\xc3\xa9"))), "'caf\xc3\xa9'");
  EXPECT_EQ(repr_value(Value(StringList{"it's"})), "[\"it's\"]");
}

TEST(PrintConfig, GunicornLayout) {
  Config config;
  ASSERT_FALSE(config.set("workers", Value(int64_t{3})));
  ASSERT_FALSE(config.set("proc_name", Value(std::string("web"))));
  ASSERT_FALSE(config.set("post_fork", Value(Callable{nullptr, "<post_fork()>"})));
  std::string text = config.print_config();
  EXPECT_NE(text.back(), '\n');

  std::vector<std::string> lines;
  for (size_t start = 0;;) {
    size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  ASSERT_EQ(lines.size(), settings_table().size());
  size_t width = 0;
  for (const auto& setting : settings_table()) width = std::max(width, setting.name.size());
  std::string previous;
  for (const auto& line : lines) {
    ASSERT_GE(line.size(), width + 3) << line;
    EXPECT_EQ(line.substr(width, 3), " = ") << line;
    std::string name = line.substr(0, line.find(' '));
    EXPECT_LT(previous, name);  // sorted by name
    previous = name;
  }
  auto line_of = [&](const std::string& name) {
    for (const auto& line : lines) {
      if (line.substr(0, line.find(' ')) == name) return line.substr(width + 3);
    }
    return std::string("<missing>");
  };
  EXPECT_EQ(line_of("workers"), "3");
  EXPECT_EQ(line_of("proc_name"), "web");
  EXPECT_EQ(line_of("bind").front(), '[');
  EXPECT_EQ(line_of("post_fork"), "<post_fork()>");
  EXPECT_EQ(line_of("pre_fork"), "None");
  EXPECT_EQ(line_of("daemon"), "False");
  EXPECT_EQ(line_of("max_requests"), "0");
  // narwhal's addition: settings it does not honour yet are marked after the value.
  EXPECT_EQ(line_of("tmp_upload_dir"), "None  # no effect in narwhal yet");
  EXPECT_EQ(line_of("logconfig_json"), "None");  // honoured since issue 15
  EXPECT_EQ(line_of("certfile"), "None");
  EXPECT_EQ(line_of("access_log_format"), "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\"");
  EXPECT_EQ(line_of("secure_scheme_headers"),
            "{'X-FORWARDED-PROTOCOL': 'ssl', 'X-FORWARDED-PROTO': 'https', 'X-FORWARDED-SSL': 'on'}");
  EXPECT_EQ(lines.front().substr(0, width + 3), "access_log_format" + std::string(width - 17, ' ') + " = ");
}

using Words = std::vector<std::string>;

TEST(SplitShellWords, ShlexSemantics) {
  EXPECT_EQ(split_shell_words(""), Words{});
  EXPECT_EQ(split_shell_words("  \t\n "), Words{});
  EXPECT_EQ(split_shell_words("--bind=127.0.0.1 --workers=3"), (Words{"--bind=127.0.0.1", "--workers=3"}));
  EXPECT_EQ(split_shell_words("a  b\tc\nd"), (Words{"a", "b", "c", "d"}));
  EXPECT_EQ(split_shell_words("'a b' \"c d\""), (Words{"a b", "c d"}));
  EXPECT_EQ(split_shell_words("x'a b'y"), Words{"xa by"});
  EXPECT_EQ(split_shell_words("''"), Words{""});
  EXPECT_EQ(split_shell_words("a\\ b"), Words{"a b"});
  EXPECT_EQ(split_shell_words("\\'"), Words{"'"});
  EXPECT_EQ(split_shell_words("'a\\b'"), Words{"a\\b"});
  EXPECT_EQ(split_shell_words("\"a\\\"b\\\\c\\d\""), Words{"a\"b\\c\\d"});
  EXPECT_EQ(split_shell_words("--access-logformat '%(h)s \"%(r)s\"'"),
            (Words{"--access-logformat", "%(h)s \"%(r)s\""}));
  EXPECT_EQ(split_shell_words("a#b # c"), (Words{"a#b", "#", "c"}));
  EXPECT_EQ(split_shell_words("'unbalanced"), std::nullopt);
  EXPECT_EQ(split_shell_words("\"unbalanced"), std::nullopt);
  EXPECT_EQ(split_shell_words("trailing\\"), std::nullopt);
}

}  // namespace
}  // namespace narwhal::config
