// usage_text() (`--help`) and settings_markdown() (docs/settings.md), both from the table.
#include <algorithm>
#include <cctype>

#include "config/config.h"

namespace narwhal::config {
namespace {

constexpr size_t kHelpColumn = 24;
constexpr size_t kWidth = 80;

// Sections in order of first appearance in the table.
std::vector<std::string> sections() {
  std::vector<std::string> out;
  for (const auto& setting : settings_table()) {
    if (std::find(out.begin(), out.end(), setting.section) == out.end()) out.push_back(setting.section);
  }
  return out;
}

// argparse shows dest.upper() when a value-taking flag has no metavar.
std::string metavar_of(const Setting& setting) {
  if (setting.action != Action::Store && setting.action != Action::Append &&
      setting.action != Action::StoreOptional) {
    return "";
  }
  if (!setting.metavar.empty()) return setting.metavar;
  std::string upper = setting.name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper;
}

std::string wrap(std::string_view text, size_t indent, size_t first_line_used) {
  std::string out;
  size_t used = first_line_used;
  size_t start = 0;
  bool line_empty = true;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(start, end - start);
    start = end + 1;
    if (word.empty()) continue;
    if (!line_empty && used + 1 + word.size() > kWidth) {
      out += "\n" + std::string(indent, ' ');
      used = indent;
      line_empty = true;
    }
    if (!line_empty) {
      out += ' ';
      ++used;
    }
    out += word;
    used += word.size();
    line_empty = false;
  }
  return out;
}

void add_option(std::string& out, const std::string& invocation, std::string_view help) {
  std::string line = "  " + invocation;
  if (line.size() + 2 <= kHelpColumn) {
    line.append(kHelpColumn - line.size(), ' ');
  } else {
    line += "\n" + std::string(kHelpColumn, ' ');
  }
  out += line + wrap(help, kHelpColumn, kHelpColumn) + "\n";
}

std::string invocation_of(const Setting& setting, bool markdown) {
  std::string metavar = metavar_of(setting);
  std::string out;
  for (const auto& flag : setting.flags) {
    if (!out.empty()) out += ", ";
    std::string one = flag + (metavar.empty() ? "" : " " + metavar);
    out += markdown ? "`" + one + "`" : one;
  }
  return out;
}

const char* type_name(Type type) {
  switch (type) {
    case Type::Bool: return "boolean";
    case Type::Int: return "integer";
    case Type::Float: return "number";
    case Type::String: return "string";
    case Type::OptionalString: return "string or None";
    case Type::StringList: return "list of strings";
    case Type::StringMap: return "dictionary";
    case Type::Callable: return "callable (config file only)";
  }
  return "";
}

// Setting::support, stated before the description so nobody is misled by gunicorn's text.
std::string support_text(const Setting& setting) {
  std::string note = setting.support_note.empty() ? "" : ": " + setting.support_note;
  switch (setting.support) {
    case Setting::Support::Honoured: return "";
    case Setting::Support::Ignored:
      return "**Not honoured yet:** accepted, but has no effect in narwhal yet" + note +
             ". A value other than the default logs a warning at start-up.\n\n";
    case Setting::Support::Refused:
      return "**Not supported yet:** a value other than the default is refused at start-up" + note + ".\n\n";
  }
  return "";
}

}  // namespace

std::string usage_text(std::string_view program) {
  std::string out = "usage: " + std::string(program) + " [OPTIONS] [APP_MODULE]\n\n";
  out += "positional arguments:\n";
  add_option(out, "APP_MODULE", "The application to serve, as MODULE:VARIABLE.");
  out += "\noptions:\n";
  add_option(out, "-h, --help", "show this help message and exit");
  add_option(out, "-v, --version", "show program's version number and exit");
  for (const auto& section : sections()) {
    std::string body;
    for (const auto& setting : settings_table()) {
      if (setting.section != section || setting.flags.empty()) continue;
      add_option(body, invocation_of(setting, false), setting.short_doc + " [" + setting.default_text + "]");
    }
    if (!body.empty()) out += "\n" + section + ":\n" + body;
  }
  return out;
}

std::string settings_markdown() {
  std::string out =
      "<!-- Generated from the settings table (src/config) by narwhal_settings_doc; do not edit. -->\n\n"
      "# Settings\n\n"
      "Every setting can be given in a Python configuration file (`-c FILE`) under its name; most "
      "can also be given on the command line. Command-line arguments can also come from the "
      "`NARWHAL_CMD_ARGS` or `GUNICORN_CMD_ARGS` environment variable, e.g. "
      "`GUNICORN_CMD_ARGS=\"--bind=127.0.0.1 --workers=3\" narwhal app:app`.\n\n"
      "Names, flags, defaults and semantics follow gunicorn; differences are noted per setting. "
      "Settings marked **Not honoured yet** are accepted so a gunicorn configuration keeps working, "
      "but have no effect yet (a warning names each one set at start-up); settings marked **Not "
      "supported yet** stop the start-up when set. `--print-config` marks both.\n";
  for (const auto& section : sections()) {
    out += "\n## " + section + "\n";
    for (const auto& setting : settings_table()) {
      if (setting.section != section) continue;
      out += "\n### `" + setting.name + "`\n\n";
      if (!setting.flags.empty()) out += "**Command line:** " + invocation_of(setting, true) + "\n\n";
      out += "**Default:** `" + setting.default_text + "`\n\n";
      out += std::string("**Type:** ") + type_name(setting.type) + "\n\n";
      out += support_text(setting);
      out += setting.short_doc + "\n";
      if (!setting.doc.empty()) out += "\n" + setting.doc + "\n";
    }
  }
  return out;
}

}  // namespace narwhal::config
