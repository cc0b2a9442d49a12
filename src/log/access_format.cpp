// Compiling access_log_format: the subset of Python's printf-style "%" operator that a mapping
// argument allows — "%(key)[flags][width][.precision][length]conversion" and "%%".
#include "log/access_format.h"

#include <cctype>
#include <string>

namespace narwhal::log {
namespace {

constexpr std::string_view kFlags = "-+ #0";
constexpr std::string_view kConversions = "diouxXeEfFgGcrsa";
constexpr std::string_view kStringConversions = "rsa";

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

AccessFormat::AccessFormat(std::string_view format) {
  compile(format);
  for (const Piece& piece : pieces_) uses_response_headers_ |= piece.atom == Atom::ResponseHeader;
}

void AccessFormat::add_literal(std::string_view text) {
  if (text.empty()) return;
  if (!pieces_.empty() && pieces_.back().atom == Atom::Literal) {
    pieces_.back().text.append(text);
    return;
  }
  Piece piece;
  piece.text.assign(text);
  pieces_.push_back(std::move(piece));
}

void AccessFormat::compile(std::string_view format) {
  auto fail = [this](std::string message, std::size_t index) {
    if (error_.empty()) error_ = std::move(message) + " at index " + std::to_string(index);
  };
  std::size_t i = 0;
  const std::size_t n = format.size();
  while (i < n) {
    std::size_t percent = format.find('%', i);
    if (percent == std::string_view::npos) {
      add_literal(format.substr(i));
      break;
    }
    add_literal(format.substr(i, percent - i));
    std::size_t j = percent + 1;
    if (j < n && format[j] == '%') {
      add_literal("%");
      i = j + 1;
      continue;
    }
    if (j >= n || format[j] != '(') {
      // Python would format the whole mapping here ("%s") or fail; gunicorn users never mean it.
      fail(j >= n ? "incomplete format" : "format requires a mapping key", percent);
      add_literal("%");
      i = j;
      continue;
    }
    // The key runs to the matching ')' (Python counts nested parentheses).
    std::size_t key_begin = j + 1;
    int depth = 1;
    std::size_t k = key_begin;
    for (; k < n && depth > 0; ++k) {
      if (format[k] == '(') ++depth;
      if (format[k] == ')') --depth;
    }
    if (depth > 0) {
      fail("incomplete format key", percent);
      add_literal(format.substr(percent));
      break;
    }
    std::string_view key = format.substr(key_begin, k - 1 - key_begin);
    std::size_t spec_begin = k;
    while (k < n && kFlags.find(format[k]) != std::string_view::npos) ++k;
    while (k < n && (std::isdigit(static_cast<unsigned char>(format[k])) || format[k] == '*')) ++k;
    if (k < n && format[k] == '.') {
      ++k;
      while (k < n && (std::isdigit(static_cast<unsigned char>(format[k])) || format[k] == '*'))
        ++k;
    }
    std::string_view spec = format.substr(spec_begin, k - spec_begin);
    while (k < n && (format[k] == 'h' || format[k] == 'l' || format[k] == 'L')) ++k;
    if (k >= n) {
      fail("incomplete format", percent);
      add_literal(format.substr(percent));
      break;
    }
    char conversion = format[k];
    if (spec.find('*') != std::string_view::npos) fail("'*' needs positional arguments", percent);
    if (kConversions.find(conversion) == std::string_view::npos) {
      fail(std::string("unsupported format character '") + conversion + "'", k);
      conversion = 's';
    }
    add_atom(key, spec, conversion);
    i = k + 1;
  }
}

void AccessFormat::add_atom(std::string_view key, std::string_view spec, char conversion) {
  Piece piece;
  piece.conversion = conversion;
  piece.plain = spec.empty() && conversion == 's';
  if (!key.empty() && key.front() == '{') {
    // SafeAtoms lower-cases "{...}x" keys; gunicorn's atoms are "{name}i", "{name}o", "{name}e".
    std::string name = lower(key);
    piece.atom = Atom::Unknown;
    if (name.size() >= 3 && name[name.size() - 2] == '}') {
      char kind = name.back();
      name = name.substr(1, name.size() - 3);
      if (kind == 'i') piece.atom = Atom::RequestHeader;
      if (kind == 'o') piece.atom = Atom::ResponseHeader;
      if (kind == 'e') piece.atom = Atom::Environ;
      if (piece.atom != Atom::Unknown) piece.text = std::move(name);
    }
  } else if (key.size() == 1) {
    switch (key[0]) {
      case 'h': piece.atom = Atom::RemoteAddr; break;
      case 'l': piece.atom = Atom::Ident; break;
      case 'u': piece.atom = Atom::User; break;
      case 't': piece.atom = Atom::Time; break;
      case 'r': piece.atom = Atom::RequestLine; break;
      case 'm': piece.atom = Atom::Method; break;
      case 'U': piece.atom = Atom::Path; break;
      case 'q': piece.atom = Atom::Query; break;
      case 'H': piece.atom = Atom::Protocol; break;
      case 's': piece.atom = Atom::Status; break;
      case 'B': piece.atom = Atom::BytesZero; break;
      case 'b': piece.atom = Atom::BytesDash; break;
      case 'f': piece.atom = Atom::Referer; break;
      case 'a': piece.atom = Atom::UserAgent; break;
      case 'T': piece.atom = Atom::Seconds; break;
      case 'M': piece.atom = Atom::Millis; break;
      case 'D': piece.atom = Atom::Micros; break;
      case 'L': piece.atom = Atom::DecimalSeconds; break;
      case 'p': piece.atom = Atom::Pid; break;
      case 'Q':  // narwhal's: queue time (ms); gunicorn renders an unknown atom as "-"
        piece.atom = Atom::QueueMillis;
        uses_queue_time_ = true;
        break;
      default: piece.atom = Atom::Unknown; break;
    }
  } else {
    piece.atom = Atom::Unknown;  // SafeAtoms: any other key renders "-"
  }

  bool numeric = is_numeric(piece.atom);
  bool string_conversion = kStringConversions.find(conversion) != std::string_view::npos;
  if (!numeric && !string_conversion) {
    // Python: "%d format: a number is required, not str".
    if (error_.empty())
      error_ = std::string("%") + conversion + " needs a number, atom is a string";
  }
  if (!piece.plain) {
    // Flags, width and precision, kept both parsed (strings) and as a C spec (numbers).
    std::size_t k = 0;
    while (k < spec.size() && kFlags.find(spec[k]) != std::string_view::npos) {
      if (spec[k] == '-') piece.left = true;
      ++k;
    }
    std::size_t width_begin = k;
    while (k < spec.size() && std::isdigit(static_cast<unsigned char>(spec[k]))) ++k;
    if (k > width_begin)
      piece.width = std::stoi(std::string(spec.substr(width_begin, k - width_begin)));
    if (k < spec.size() && spec[k] == '.') {
      std::size_t precision_begin = ++k;
      while (k < spec.size() && std::isdigit(static_cast<unsigned char>(spec[k]))) ++k;
      std::string digits(spec.substr(precision_begin, k - precision_begin));
      piece.precision = digits.empty() ? 0 : std::stoi(digits);
    }
    piece.numeric_spec = numeric && !string_conversion && conversion != 'c';
    if (piece.numeric_spec) {
      std::string c_spec = "%";
      for (char ch : spec) {
        if (ch != '*') c_spec += ch;
      }
      bool floating = std::string_view("eEfFgG").find(conversion) != std::string_view::npos;
      if (floating) {
        c_spec += conversion;
      } else {
        c_spec += "ll";
        c_spec += (conversion == 'i' || conversion == 'u') ? 'd' : conversion;
      }
      piece.c_spec = std::move(c_spec);
      piece.floating = floating;
    }
  }
  pieces_.push_back(std::move(piece));
}

bool AccessFormat::is_numeric(Atom atom) {
  return atom == Atom::BytesZero || atom == Atom::Seconds || atom == Atom::Millis ||
         atom == Atom::Micros || atom == Atom::QueueMillis;
}

}  // namespace narwhal::log
