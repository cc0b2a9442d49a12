// Config-file values (Python objects) → config::Value, and exception formatting.
#include <gtest/gtest.h>

#include "python/convert.h"
#include "python/pyref.h"

namespace narwhal::py {
namespace {

class PythonEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { Py_Initialize(); }
};

Ref eval(const char* expression) {
  Ref globals = Ref::steal(PyDict_New());
  PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins());
  Ref value = Ref::steal(PyRun_String(expression, Py_eval_input, globals.get(), globals.get()));
  EXPECT_TRUE(value) << format_exception();
  return value;
}

TEST(ToConfigValue, Scalars) {
  EXPECT_TRUE(std::holds_alternative<std::monostate>(to_config_value(eval("None").get())));
  // bool is checked before int: True must not become 1
  EXPECT_EQ(std::get<bool>(to_config_value(eval("True").get())), true);
  EXPECT_EQ(std::get<int64_t>(to_config_value(eval("-42").get())), -42);
  EXPECT_DOUBLE_EQ(std::get<double>(to_config_value(eval("2.5").get())), 2.5);
  EXPECT_EQ(std::get<std::string>(to_config_value(eval("'caf\\u00e9'").get())), "caf\xC3\xA9");
  // too big for int64: kept as its text so the validator can name it
  EXPECT_EQ(std::get<std::string>(to_config_value(eval("2**70").get())), "1180591620717411303424");
}

TEST(ToConfigValue, ContainersBecomeStringListsAndMaps) {
  auto list = std::get<config::StringList>(to_config_value(eval("['127.0.0.1:8000', ('x', 1)]").get()));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0], "127.0.0.1:8000");
  EXPECT_EQ(list[1], "('x', 1)");
  auto tuple = std::get<config::StringList>(to_config_value(eval("('a', 'b')").get()));
  EXPECT_EQ(tuple, (config::StringList{"a", "b"}));
  auto map = std::get<config::StringMap>(to_config_value(eval("{'X-FORWARDED-PROTO': 'https', 'N': 2}").get()));
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map[0], (std::pair<std::string, std::string>{"X-FORWARDED-PROTO", "https"}));
  EXPECT_EQ(map[1], (std::pair<std::string, std::string>{"N", "2"}));
}

TEST(ToConfigValue, CallablesKeepTheObjectAndNameIt) {
  Ref function = eval("(lambda: None)");
  Py_ssize_t before = Py_REFCNT(function.get());
  {
    auto callable = std::get<config::Callable>(to_config_value(function.get()));
    EXPECT_EQ(callable.object.get(), function.get());
    EXPECT_EQ(callable.repr, "<<lambda>()>");
    EXPECT_EQ(Py_REFCNT(function.get()), before + 1);
  }
  EXPECT_EQ(Py_REFCNT(function.get()), before);  // released with the value
}

TEST(ToConfigValue, KeptDictIsTheObject) {
  // Setting::python_value (logconfig_dict): nested dicts reach dictConfig unchanged.
  Ref dict = eval("{'version': 1, 'loggers': {'gunicorn.access': {'level': 'INFO'}}}");
  auto kept = std::get<config::Callable>(to_config_value(dict.get(), true));
  EXPECT_EQ(kept.object.get(), dict.get());
  EXPECT_EQ(kept.repr, "{'version': 1, 'loggers': {'gunicorn.access': {'level': 'INFO'}}}");
  // only dicts are kept: anything else converts as usual (and the validator names it)
  EXPECT_EQ(std::get<std::string>(to_config_value(eval("'text'").get(), true)), "text");
  EXPECT_TRUE(std::holds_alternative<config::StringMap>(to_config_value(dict.get())));
}

TEST(FormatException, GivesTheTracebackAndClearsTheError) {
  Ref globals = Ref::steal(PyDict_New());
  PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins());
  Ref result = Ref::steal(PyRun_String("def f():\n    raise KeyError('narwhal-key')\nf()\n", Py_file_input,
                                       globals.get(), globals.get()));
  ASSERT_FALSE(result);
  std::string text = format_exception();
  EXPECT_FALSE(PyErr_Occurred());
  EXPECT_NE(text.find("Traceback (most recent call last):"), std::string::npos);
  EXPECT_NE(text.find("in f"), std::string::npos);
  EXPECT_NE(text.find("KeyError: 'narwhal-key'"), std::string::npos);
  EXPECT_EQ(format_exception(), "");  // nothing pending any more
}

}  // namespace
}  // namespace narwhal::py

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new narwhal::py::PythonEnvironment);
  return RUN_ALL_TESTS();
}
