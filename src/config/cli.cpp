// Command-line parsing with argparse's rules, as gunicorn's parser behaves.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "config/config.h"
#include "config/validators.h"

namespace narwhal::config {
namespace {

constexpr std::string_view kHelpFlags[] = {"-h", "--help"};
constexpr std::string_view kVersionFlags[] = {"-v", "--version"};

// What a flag does: a setting, or help/version (setting == nullptr).
struct FlagTarget {
  const Setting* setting = nullptr;
  bool help = false;
};

const std::map<std::string, FlagTarget, std::less<>>& flag_map() {
  static const auto map = [] {
    std::map<std::string, FlagTarget, std::less<>> flags;
    for (auto flag : kHelpFlags) flags[std::string(flag)] = {nullptr, true};
    for (auto flag : kVersionFlags) flags[std::string(flag)] = {nullptr, false};
    for (const auto& setting : settings_table()) {
      for (const auto& flag : setting.flags) flags[flag] = {&setting, false};
    }
    return flags;
  }();
  return map;
}

bool takes_value(const Setting& setting) {
  return setting.action == Action::Store || setting.action == Action::Append ||
         setting.action == Action::StoreOptional;
}

std::string flag_names(const Setting& setting) {
  std::string out;
  for (const auto& flag : setting.flags) out += (out.empty() ? "" : "/") + flag;
  return out;
}

// argparse's _negative_number_matcher: '^-\d+$|^-\d*\.\d+$'.
bool is_negative_number(std::string_view arg) {
  if (arg.size() < 2 || arg[0] != '-') return false;
  std::string_view rest = arg.substr(1);
  size_t dot = rest.find('.');
  auto digits = [](std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  };
  if (dot == std::string_view::npos) return digits(rest);
  return digits(rest.substr(0, dot)) && rest.size() > dot + 1 && digits(rest.substr(dot + 1));
}

// argparse's _parse_optional: does `arg` look like an option rather than a value?
bool looks_like_option(std::string_view arg) {
  if (arg.empty() || arg[0] != '-') return false;
  if (flag_map().contains(arg)) return true;
  if (arg.size() == 1) return false;
  if (is_negative_number(arg)) return false;
  if (arg.find(' ') != std::string_view::npos) return false;
  return true;
}

struct Resolved {
  const FlagTarget* target = nullptr;
  std::string flag;   // the option string matched
  std::string error;  // ambiguity
};

// Exact long option, else a unique prefix of one (argparse's allow_abbrev).
Resolved resolve_long(std::string_view name) {
  const auto& flags = flag_map();
  if (auto found = flags.find(name); found != flags.end()) return {&found->second, found->first, ""};
  std::vector<std::pair<std::string, const FlagTarget*>> matches;
  std::set<const void*> distinct;
  for (const auto& [flag, target] : flags) {
    if (flag.size() > 2 && flag.starts_with("--") && flag.starts_with(name)) {
      matches.emplace_back(flag, &target);
      distinct.insert(target.setting ? static_cast<const void*>(target.setting) : &target);
    }
  }
  if (matches.empty()) return {};
  if (distinct.size() > 1) {
    std::string options;
    for (const auto& [flag, target] : matches) options += (options.empty() ? "" : ", ") + flag;
    return {nullptr, "", "ambiguous option: " + std::string(name) + " could match " + options};
  }
  return {matches.front().second, matches.front().first, ""};
}

class Parser {
 public:
  Parser(std::span<const std::string> args, size_t max_positional) : args_(args), max_positional_(max_positional) {}

  CliResult run() {
    bool options_ended = false;
    for (index_ = 0; index_ < args_.size() && result_.error.empty() && !stop_; ++index_) {
      const std::string& arg = args_[index_];
      if (options_ended || !looks_like_option(arg)) {
        result_.positional.push_back(arg);
      } else if (arg == "--") {
        options_ended = true;
      } else if (arg.starts_with("--")) {
        parse_long(arg);
      } else {
        parse_short(arg);
      }
    }
    if (!result_.error.empty() || stop_) return std::move(result_);
    for (size_t i = max_positional_; i < result_.positional.size(); ++i) unrecognized_.push_back(result_.positional[i]);
    if (!unrecognized_.empty()) {
      result_.error = "unrecognized arguments:";
      for (const auto& arg : unrecognized_) result_.error += " " + arg;
    }
    return std::move(result_);
  }

 private:
  void parse_long(const std::string& arg) {
    size_t equals = arg.find('=');
    std::string name = arg.substr(0, equals);
    std::optional<std::string> explicit_value;
    if (equals != std::string::npos) explicit_value = arg.substr(equals + 1);
    Resolved resolved = resolve_long(name);
    if (!resolved.error.empty()) {
      result_.error = resolved.error;
    } else if (!resolved.target) {
      unrecognized_.push_back(arg);
    } else {
      apply(*resolved.target, resolved.flag, explicit_value);
    }
  }

  // "-w4", "-w=4", "-w 4", and grouped flags "-DR" (each letter a flag, the last may take a value).
  void parse_short(const std::string& arg) {
    const auto& flags = flag_map();
    if (auto found = flags.find(arg); found != flags.end()) {
      apply(found->second, found->first, std::nullopt);
      return;
    }
    if (size_t equals = arg.find('='); equals != std::string::npos) {
      if (auto found = flags.find(arg.substr(0, equals)); found != flags.end()) {
        apply(found->second, found->first, arg.substr(equals + 1));
        return;
      }
    }
    for (size_t position = 1; position < arg.size(); ++position) {
      auto found = flags.find(std::string{'-', arg[position]});
      if (found == flags.end()) {
        if (position == 1) {
          unrecognized_.push_back(arg);
        } else {
          result_.error = "argument " + found_name_ + ": ignored explicit argument '" +
                          arg.substr(position) + "'";
        }
        return;
      }
      const FlagTarget& target = found->second;
      bool needs_value = target.setting && takes_value(*target.setting);
      if (needs_value && position + 1 < arg.size()) {
        apply(target, found->first, arg.substr(position + 1));
        return;
      }
      apply(target, found->first, std::nullopt);
      if (needs_value || stop_ || !result_.error.empty()) return;
      found_name_ = flag_names(*target.setting);
    }
  }

  void apply(const FlagTarget& target, const std::string& flag, std::optional<std::string> value) {
    if (!target.setting) {
      (target.help ? result_.help : result_.version) = true;
      stop_ = true;  // argparse acts on -h/-v as soon as it meets them
      return;
    }
    const Setting& setting = *target.setting;
    std::string names = flag_names(setting);
    if (!takes_value(setting)) {
      if (value) {
        result_.error = "argument " + names + ": ignored explicit argument '" + *value + "'";
        return;
      }
      record(setting, flag, setting.action == Action::StoreFalse ? "false" : "true");
      return;
    }
    if (!value && setting.action == Action::StoreOptional) {
      // argparse nargs="?": the next argument is the value unless it looks like an option.
      if (index_ + 1 >= args_.size() || looks_like_option(args_[index_ + 1])) {
        record(setting, flag, setting.cli_const);
        return;
      }
    }
    if (!value) {
      if (index_ + 1 >= args_.size() || looks_like_option(args_[index_ + 1])) {
        result_.error = "argument " + names + ": expected one argument";
        return;
      }
      value = args_[++index_];
    }
    if (setting.cli_value == Setting::CliValue::Int && !parse_int_decimal(*value)) {
      result_.error = "argument " + names + ": invalid int value: " + repr_value(*value);
      return;
    }
    if (setting.cli_value == Setting::CliValue::AutoInt && !parse_auto_int(*value)) {
      result_.error = "argument " + names + ": invalid auto_int value: " + repr_value(*value);
      return;
    }
    record(setting, flag, *value);
  }

  void record(const Setting& setting, const std::string& flag, std::string value) {
    result_.values.emplace_back(setting.name, std::move(value));
    result_.flags.push_back(flag);
  }

  std::span<const std::string> args_;
  size_t max_positional_;
  size_t index_ = 0;
  bool stop_ = false;
  CliResult result_;
  std::vector<std::string> unrecognized_;
  std::string found_name_;
};

}  // namespace

CliResult parse_cli(std::span<const std::string> args, size_t max_positional) {
  return Parser(args, max_positional).run();
}

std::optional<ConfigError> apply_cli(Config& config, const CliResult& cli) {
  std::set<std::string> appended;
  for (size_t i = 0; i < cli.values.size(); ++i) {
    const auto& [name, text] = cli.values[i];
    const Setting* setting = find_setting(name);
    if (setting == nullptr) return ConfigError{name, "No configuration setting for: " + name};
    Value raw = text;
    std::optional<int64_t> number;
    if (setting->cli_value == Setting::CliValue::Int) number = parse_int_decimal(text);
    if (setting->cli_value == Setting::CliValue::AutoInt) number = parse_auto_int(text);
    if (number) raw = *number;
    bool append = setting->action == Action::Append && !appended.insert(name).second;
    std::string flag = i < cli.flags.size() ? cli.flags[i] : "";
    if (auto error = config.set_from_flag(name, raw, append, flag)) return error;
  }
  return std::nullopt;
}

}  // namespace narwhal::config
