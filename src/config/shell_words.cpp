// split_shell_words: Python's shlex.split(text) (POSIX mode, no comments).
#include "config/config.h"

namespace narwhal::config {

std::optional<std::vector<std::string>> split_shell_words(std::string_view text) {
  enum class State { Between, Word, Single, Double };
  std::vector<std::string> words;
  std::string word;
  State state = State::Between;
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    switch (state) {
      case State::Between:
      case State::Word:
        if (is_space(c)) {
          if (state == State::Word) words.push_back(std::move(word));
          word.clear();
          state = State::Between;
        } else if (c == '\\') {
          if (i + 1 >= text.size()) return std::nullopt;  // "No escaped character"
          word += text[++i];
          state = State::Word;
        } else if (c == '\'') {
          state = State::Single;
        } else if (c == '"') {
          state = State::Double;
        } else {
          word += c;
          state = State::Word;
        }
        break;
      case State::Single:
        if (c == '\'') {
          state = State::Word;
        } else {
          word += c;
        }
        break;
      case State::Double:
        if (c == '"') {
          state = State::Word;
        } else if (c == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) {
          word += text[++i];  // inside double quotes only \" and \\ are escapes
        } else if (c == '\\' && i + 1 >= text.size()) {
          return std::nullopt;
        } else {
          word += c;
        }
        break;
    }
  }
  if (state == State::Single || state == State::Double) return std::nullopt;  // "No closing quotation"
  if (state == State::Word) words.push_back(std::move(word));
  return words;
}

}  // namespace narwhal::config
