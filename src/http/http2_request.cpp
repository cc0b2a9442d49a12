// An HTTP/2 request's header section → RequestHead (RFC 9113 §8.3, §8.2.3), with narwhal's
// HTTP/1 request policy applied to it as well (docs/http.md "HTTP/2"): nghttp2 has already
// refused what RFC 9113 §8 calls malformed (pseudo-header rules, connection-specific fields,
// upper-case names, TE other than "trailers", Content-Length syntax, invalid characters).
#include "http/http2_request.h"

#include "http/chars.h"
#include "http/fields.h"
#include "http/request_line.h"
#include "http/text.h"
#include "http/uri.h"

namespace narwhal::http::h2 {
namespace {

constexpr uint64_t kFieldOverhead = 32;  // RFC 9113 §6.5.2: SETTINGS_MAX_HEADER_LIST_SIZE counting

bool has_underscore(std::string_view name) { return name.find('_') != std::string_view::npos; }

}  // namespace

RequestBuilder::RequestBuilder(const ParserOptions& options, uint32_t max_header_list_size)
    : options_(options), limits_(effective_limits(options.limits)),
      max_header_list_size_(max_header_list_size) {}

void RequestBuilder::reject(int status, const char* reason) {
  if (status_ != 0) return;  // the first reason wins
  status_ = status;
  reason_ = reason;
}

RequestBuilder::Span RequestBuilder::store(std::string& arena, std::string_view text) {
  Span span{static_cast<uint32_t>(arena.size()), static_cast<uint32_t>(text.size())};
  arena.append(text);
  return span;
}

bool RequestBuilder::within_list_size(std::string_view name, std::string_view value) {
  list_size_ += name.size() + value.size() + kFieldOverhead;
  if (max_header_list_size_ != 0 && list_size_ > max_header_list_size_) {
    // RFC 9113 §10.5.1: a server MAY answer 431 to a larger header section than it accepts.
    reject(431, "header list larger than http2_max_header_list_size");
    return false;
  }
  return true;
}

void RequestBuilder::add(std::string_view name, std::string_view value) {
  if (!within_list_size(name, value) || status_ != 0) return;  // counted, not stored
  if (!name.empty() && name[0] == ':') {
    Span* slot = nullptr;
    bool* seen = nullptr;
    if (name == ":method") slot = &method_, seen = &has_method_;
    else if (name == ":scheme") slot = &scheme_, seen = &has_scheme_;
    else if (name == ":authority") slot = &authority_, seen = &has_authority_;
    else if (name == ":path") slot = &path_, seen = &has_path_;
    // RFC 9113 §8.3: other pseudo-header fields (:protocol is refused by nghttp2 without
    // SETTINGS_ENABLE_CONNECT_PROTOCOL) and repeated ones are malformed; nghttp2 resets such
    // streams before we see them — kept as a second line.
    if (slot == nullptr) return reject(kMalformed, "unknown pseudo-header field");
    if (*seen) return reject(kMalformed, "repeated pseudo-header field");
    if (name == ":path" && value.size() > limits_.request_line)
      return reject(414, ":path longer than limit_request_line");
    *seen = true;
    *slot = store(arena_, value);
    return;
  }
  // RFC 9113 §8.2.1: upper-case field names make the request malformed: the stream is reset,
  // not answered (nghttp2 resets it first; kept as a second line, like the pseudo-headers).
  for (char c : name)
    if (c >= 'A' && c <= 'Z') return reject(kMalformed, "upper-case field name");
  // The HTTP/1 limits: one field line is name ": " value CRLF.
  if (name.size() + value.size() + 4 > limits_.field_line)
    return reject(431, "header field larger than limit_request_field_size");
  const bool cookie = name == "cookie";
  // Cookie crumbs (RFC 9113 §8.2.3) count as the one field they are joined into; dropped
  // '_' fields count too, as for HTTP/1.
  if ((!cookie || cookies_.empty()) && ++field_count_ > limits_.fields)
    return reject(431, "more header fields than limit_request_fields");
  if (has_underscore(name)) {
    // A WSGI environ key maps '-' and '_' alike: Content_Length could shadow Content-Length.
    if (options_.header_map == HeaderMap::Refuse) return reject(400, "'_' in a header field name");
    if (options_.header_map == HeaderMap::Drop) return;
  }
  if (name == "host") {
    if (++hosts_ == 1) host_ = store(arena_, value);
    return;
  }
  if (name == "content-type" && ++content_types_ > 1)
    return reject(400, "more than one Content-Type");  // gunicorn policy, as for HTTP/1
  if (name == "content-length") {
    // nghttp2 refused a non-numeric or repeated Content-Length (RFC 9113 §8.1.1); this is the value.
    uint64_t length = 0;
    for (char c : value) {
      if (c < '0' || c > '9' || length > (UINT64_MAX - 9) / 10)
        return reject(400, "invalid Content-Length");
      length = length * 10 + static_cast<uint64_t>(c - '0');
    }
    request_.head.has_content_length = true;
    request_.head.content_length = length;
  }
  if (cookie) {
    if (cookies_.empty()) {
      cookie_position_ = static_cast<int>(fields_.size());
      fields_.push_back(Field{store(arena_, name), Span{}});
    }
    cookies_.push_back(store(arena_, value));
    return;
  }
  fields_.push_back(Field{store(arena_, name), store(arena_, value)});
}

int RequestBuilder::finish_head() {
  if (status_ != 0) return status_;
  // The joined cookie goes into the arena first: no view into the arena exists yet.
  if (!cookies_.empty()) {
    size_t total = 0;
    for (const Span& crumb : cookies_) total += crumb.length + 2;
    arena_.reserve(arena_.size() + total);  // the crumbs are appended from the arena itself
    Span joined{static_cast<uint32_t>(arena_.size()), 0};
    for (size_t i = 0; i < cookies_.size(); ++i) {
      if (i > 0) arena_.append("; ");
      arena_.append(view(arena_, cookies_[i]));
    }
    joined.length = static_cast<uint32_t>(arena_.size() - joined.offset);
    fields_[static_cast<size_t>(cookie_position_)].value = joined;
  }
  if (!has_method_) {
    reject(400, "no :method");
    return status_;
  }
  if (options_.casefold_http_method) {
    for (uint32_t i = 0; i < method_.length; ++i)
      arena_[method_.offset + i] = chars::to_upper(arena_[method_.offset + i]);
  }
  const std::string_view method = view(arena_, method_);
  if (!is_token(method)) reject(400, "invalid :method");
  else if (!options_.permit_unconventional_http_method && !conventional_method(method))
    reject(400, "unconventional method");
  else if (method == "CONNECT")
    // RFC 9113 §8.5: a tunnel over one stream; a WSGI application cannot hold one.
    reject(501, "CONNECT is not supported over HTTP/2");
  else if (!has_scheme_ || !has_path_)
    reject(400, "no :scheme or :path");  // §8.3.1 (nghttp2 checks it first)
  if (status_ != 0) return status_;

  const std::string_view scheme = view(arena_, scheme_);
  if (!equals_ignore_case(scheme, "http") && !equals_ignore_case(scheme, "https")) {
    reject(400, ":scheme is not http or https");
    return status_;
  }
  // RFC 9113 §8.3.1: :authority, else Host; a Host that names another authority is malformed.
  std::string_view authority;
  if (hosts_ > 1) reject(400, "more than one Host");
  else if (has_authority_) {
    authority = view(arena_, authority_);
    if (hosts_ == 1 && !equals_ignore_case(view(arena_, host_), authority))
      reject(400, "Host differs from :authority");
  } else if (hosts_ == 1) {
    authority = view(arena_, host_);
  } else {
    reject(400, "no :authority or Host");
  }
  if (status_ != 0) return status_;
  // RFC 9113 §8.3.1: no userinfo in an http(s) :authority (nghttp2 only checks characters).
  if (const char* why = check_authority(authority, AuthorityRules{})) {
    reject(400, why);
    return status_;
  }
  const std::string_view path = view(arena_, path_);
  TargetForm form = TargetForm::Origin;
  if (path == "*") {
    if (method != "OPTIONS") reject(400, ":path * without OPTIONS");  // §8.3.1
    form = TargetForm::Asterisk;
  } else if (path.empty() || path[0] != '/') {
    reject(400, ":path is not origin-form");
  } else if (!chars::all_of(chars::kTarget, path)) {
    // The request-target bytes HTTP/1 accepts: no fragment, no '"', no control or non-ASCII.
    reject(400, "invalid character in :path");
  }
  if (status_ != 0) return status_;
  if (options_.limits.body != 0 && request_.head.has_content_length &&
      request_.head.content_length > options_.limits.body) {
    reject(413, "Content-Length over limit_request_body");
    return status_;
  }

  RequestHead& head = request_.head;
  head.method = view(arena_, method_);
  head.target = path;
  head.target_form = form;
  head.version_major = 2;
  head.version_minor = 0;
  head.keep_alive = true;  // the connection's business, not the request's
  head.headers.clear();
  head.headers.reserve(fields_.size() + 1);
  // RFC 9113 §8.3.1: an HTTP/1 view of the request carries :authority as its Host.
  head.headers.push_back(Header{"host", authority});
  for (const Field& field : fields_)
    head.headers.push_back(Header{view(arena_, field.name), view(arena_, field.value)});
  request_.scheme = scheme;
  request_.authority = authority;
  head_method_ = head.method == "HEAD";
  return 0;
}

void RequestBuilder::add_trailer(std::string_view name, std::string_view value) {
  trailer_list_size_ += name.size() + value.size() + kFieldOverhead;
  if (status_ != 0) return;
  if (max_header_list_size_ != 0 && trailer_list_size_ > max_header_list_size_)
    return reject(431, "trailer list larger than http2_max_header_list_size");
  if (name.size() + value.size() + 4 > limits_.field_line)
    return reject(431, "trailer field larger than limit_request_field_size");
  if (trailers_.size() + 1 > limits_.fields)
    return reject(431, "more trailer fields than limit_request_fields");
  for (char c : name)
    if (c >= 'A' && c <= 'Z') return reject(kMalformed, "upper-case field name");
  if (forbidden_trailer(name)) return reject(400, "field not allowed in trailers");  // RFC 9110 §6.5.1
  if (has_underscore(name)) {
    if (options_.header_map == HeaderMap::Refuse) return reject(400, "'_' in a trailer field name");
    if (options_.header_map == HeaderMap::Drop) return;
  }
  trailers_.push_back(Field{store(trailer_arena_, name), store(trailer_arena_, value)});
}

int RequestBuilder::finish_trailers() {
  if (status_ != 0) return status_;
  request_.head.trailers.clear();
  for (const Field& field : trailers_)
    request_.head.trailers.push_back(
        Header{view(trailer_arena_, field.name), view(trailer_arena_, field.value)});
  return 0;
}

}  // namespace narwhal::http::h2
