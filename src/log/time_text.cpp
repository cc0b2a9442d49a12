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

std::size_t format_error_time_signal_safe(std::time_t when, long gmtoff, char* out) {
  // Howard Hinnant's civil_from_days on the local day number.
  const long long local = static_cast<long long>(when) + gmtoff;
  long long days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
  const long long seconds = local - days * 86400;
  days += 719468;
  const long long era = (days >= 0 ? days : days - 146096) / 146097;
  const long long day_of_era = days - era * 146097;
  const long long year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const long long day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const long long month_index = (5 * day_of_year + 2) / 153;
  const int day = static_cast<int>(day_of_year - (153 * month_index + 2) / 5 + 1);
  const int month = static_cast<int>(month_index < 10 ? month_index + 3 : month_index - 9);
  const int year = static_cast<int>(year_of_era + era * 400 + (month <= 2 ? 1 : 0));
  char* p = out;
  *p++ = '[';
  p = put4(p, year);
  *p++ = '-';
  p = put2(p, month);
  *p++ = '-';
  p = put2(p, day);
  *p++ = ' ';
  p = put2(p, static_cast<int>(seconds / 3600));
  *p++ = ':';
  p = put2(p, static_cast<int>(seconds / 60 % 60));
  *p++ = ':';
  p = put2(p, static_cast<int>(seconds % 60));
  *p++ = ' ';
  p = put_offset(p, gmtoff);
  *p++ = ']';
  return static_cast<std::size_t>(p - out);
}

long local_gmtoff() {
  const std::time_t now = std::time(nullptr);
  struct tm t;
  localtime_r(&now, &t);
  return t.tm_gmtoff;
}

}  // namespace narwhal::log
