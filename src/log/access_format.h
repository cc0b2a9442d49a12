// The access log line: gunicorn's access_log_format (a Python %-format over named "atoms"),
// compiled once at start-up and rendered per request into a caller-owned, reused string.
//
// Rendering follows gunicorn 20.1 (glogging.py Logger.atoms + SafeAtoms): every string atom has
// '"' escaped as '\"', unknown atoms render as "-", {name}i/{name}o/{name}e names are matched
// case-insensitively, and the numeric atoms (B T M D) are integers, so "%(D)d" works.
// narwhal adds one atom gunicorn does not have: Q, the request's queue time in milliseconds
// (an integer like M; docs/metrics.md).
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace narwhal::log {

using HeaderList = std::vector<std::pair<std::string_view, std::string_view>>;

// Everything the access-log atoms need about one finished request. A string_view whose data() is
// null means "absent" and renders as "-"; a present but empty value renders as "".
struct AccessRecord {
  std::string_view remote_addr;  // h
  std::string_view method;       // m, first word of r
  std::string_view target;       // raw request target (RAW_URI), middle of r
  std::string_view path;         // U (PATH_INFO)
  std::string_view query;        // q (QUERY_STRING)
  std::string_view protocol;     // H, e.g. "HTTP/1.1"
  std::string_view status;       // s (the 3 digits)
  int64_t response_length = -1;  // body bytes sent: b ("-" when < 0) / B (0 when < 0)
  std::string_view referer;      // f (absent: taken from the "Referer" request header)
  std::string_view user_agent;   // a (absent: taken from the "User-Agent" request header)
  int64_t duration_us = 0;       // T (s), M (ms), D (us), L (decimal s)
  int64_t queue_us = 0;          // Q (ms): arrival (or X-Request-Start) to the app being called
  int pid = 0;                   // p (0: getpid())
  std::time_t when = 0;          // t (0: now)
  const HeaderList* request_headers = nullptr;   // {name}i, u (Authorization: Basic), f, a
  const HeaderList* response_headers = nullptr;  // {name}o
  // {name}e: when set, called with the lower-case variable name; appends the raw value to *out
  // and returns true, or returns false when the variable is missing. When unset, the CGI
  // variables derivable from this record are served (REQUEST_METHOD, RAW_URI, PATH_INFO,
  // QUERY_STRING, SERVER_PROTOCOL, REMOTE_ADDR, CONTENT_TYPE, CONTENT_LENGTH, HTTP_*).
  bool (*environ_lookup)(const void* context, std::string_view name, std::string* out) = nullptr;
  const void* environ_context = nullptr;
};

inline constexpr std::string_view kDefaultAccessFormat =
    R"(%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s")";

// A compiled access_log_format.
class AccessFormat {
 public:
  AccessFormat() : AccessFormat(kDefaultAccessFormat) {}
  explicit AccessFormat(std::string_view format);

  // Appends one line (without '\n') to *out.
  void render(const AccessRecord& record, std::string& out) const;

  // Non-empty when Python's % operator would reject the format (gunicorn then logs a traceback
  // per request instead of the line); render() still produces a best-effort line.
  const std::string& error() const { return error_; }

  // Whether a {name}o atom is used: the worker then hands the response headers over.
  bool uses_response_headers() const { return uses_response_headers_; }
  // Whether the Q atom (queue time) is used: workers then take the kernel's arrival times.
  bool uses_queue_time() const { return uses_queue_time_; }

 private:
  enum class Atom : uint8_t {
    Literal,
    RemoteAddr,
    Ident,
    User,
    Time,
    RequestLine,
    Method,
    Path,
    Query,
    Protocol,
    Status,
    BytesZero,
    BytesDash,
    Referer,
    UserAgent,
    Seconds,
    Millis,
    Micros,
    DecimalSeconds,
    QueueMillis,
    Pid,
    RequestHeader,
    ResponseHeader,
    Environ,
    Unknown,
  };
  struct Piece {
    Atom atom = Atom::Literal;
    char conversion = 's';      // Python conversion character
    bool plain = true;          // "%(x)s": no flags, width or precision — the fast path
    bool left = false;          // '-' flag (strings are padded by hand: Python ignores '0')
    bool numeric_spec = false;  // a number atom with a number conversion: printf(c_spec)
    bool floating = false;      // c_spec takes a double (e E f F g G)
    int width = -1;
    int precision = -1;
    std::string text;    // literal text or lower-case header / variable name
    std::string c_spec;  // e.g. "%05lld" when numeric_spec
  };

  static bool is_numeric(Atom atom);

  void compile(std::string_view format);
  void add_literal(std::string_view text);
  void add_atom(std::string_view key, std::string_view spec, char conversion);
  static void append_string(const Piece& piece, const AccessRecord& record, std::string& out);
  static int64_t number(Atom atom, const AccessRecord& record);
  static void render_formatted(const Piece& piece, const AccessRecord& record, std::string& out);

  std::vector<Piece> pieces_;
  std::string error_;
  bool uses_response_headers_ = false;
  bool uses_queue_time_ = false;
};

}  // namespace narwhal::log
