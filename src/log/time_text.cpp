#include "log/time_text.h"

#include <cstddef>

namespace narwhal::log {
namespace {

// Month names are spelled out rather than taken from strftime("%b") so that a locale set by the
// application (setlocale in a worker) cannot change the log layout.
constexpr char kMonths[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct CachedText {
  std::time_t second = -1;
  std::size_t size = 0;
  char text[48] = {};
};

char* put2(char* p, int value) {
  p[0] = static_cast<char>('0' + value / 10 % 10);
  p[1] = static_cast<char>('0' + value % 10);
  return p + 2;
}

char* put4(char* p, int value) {
  p = put2(p, value / 100);
  return put2(p, value % 100);
}

// "+hhmm" / "-hhmm" like strftime's %z.
char* put_offset(char* p, long gmtoff) {
  *p++ = gmtoff < 0 ? '-' : '+';
  long magnitude = gmtoff < 0 ? -gmtoff : gmtoff;
  int minutes = static_cast<int>(magnitude / 60);
  p = put2(p, minutes / 60);
  return put2(p, minutes % 60);
}

std::size_t format_access(std::time_t when, char* out) {
  struct tm t;
  localtime_r(&when, &t);
  char* p = out;
  *p++ = '[';
  p = put2(p, t.tm_mday);
  *p++ = '/';
  for (int i = 0; i < 3; ++i) *p++ = kMonths[t.tm_mon % 12][i];
  *p++ = '/';
  p = put4(p, t.tm_year + 1900);
  *p++ = ':';
  p = put2(p, t.tm_hour);
  *p++ = ':';
  p = put2(p, t.tm_min);
  *p++ = ':';
  p = put2(p, t.tm_sec);
  *p++ = ' ';
  p = put_offset(p, t.tm_gmtoff);
  *p++ = ']';
  return static_cast<std::size_t>(p - out);
}

std::size_t format_error(std::time_t when, char* out) {
  struct tm t;
  localtime_r(&when, &t);
  char* p = out;
  *p++ = '[';
  p = put4(p, t.tm_year + 1900);
  *p++ = '-';
  p = put2(p, t.tm_mon + 1);
  *p++ = '-';
  p = put2(p, t.tm_mday);
  *p++ = ' ';
  p = put2(p, t.tm_hour);
  *p++ = ':';
  p = put2(p, t.tm_min);
  *p++ = ':';
  p = put2(p, t.tm_sec);
  *p++ = ' ';
  p = put_offset(p, t.tm_gmtoff);
  *p++ = ']';
  return static_cast<std::size_t>(p - out);
}

void append_cached(std::string& out, std::time_t when, CachedText& cache,
                   std::size_t (*format)(std::time_t, char*)) {
  if (cache.second != when) {
    cache.size = format(when, cache.text);
    cache.second = when;
  }
  out.append(cache.text, cache.size);
}

}  // namespace

void append_access_time(std::string& out, std::time_t when) {
  thread_local CachedText cache;
  append_cached(out, when, cache, format_access);
}

void append_error_time(std::string& out, std::time_t when) {
  thread_local CachedText cache;
  append_cached(out, when, cache, format_error);
}

}  // namespace narwhal::log
