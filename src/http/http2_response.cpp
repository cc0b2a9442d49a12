// The HTTP/2 response head: the same checks as the HTTP/1 head builder (check_status,
// ResponseFieldCheck), then RFC 9113's rules — lower-case names (§8.2.1), no connection-specific
// fields (§8.2.2), no 101 (§8.6) — and the server's Date and Server fields.
#include "http/http2_response.h"

#include "http/chars.h"
#include "http/response.h"
#include "http/text.h"

namespace narwhal::http::h2 {

const char* build_response_head(std::string_view status, std::span<const ResponseField> fields,
                                bool head_method, ResponseHead* out) {
  out->fields.clear();
  out->storage.clear();
  out->content_length = -1;
  if (const char* error = check_status(status, &out->status)) return error;
  // RFC 9113 §8.6: no 101 (Upgrade) in HTTP/2; interim 1xx are not final responses.
  if (out->status < 200) return "interim or 101 status as the final response";
  const std::string_view date = http_date();
  size_t names = 3 + date.size();
  for (const ResponseField& field : fields) names += field.name.size();
  out->storage.reserve(names);  // views into storage are taken below: it must not move
  auto keep = [out](std::string_view text) {
    const size_t offset = out->storage.size();
    out->storage.append(text);
    return std::string_view(out->storage).substr(offset, text.size());
  };
  out->fields.push_back(ResponseField{":status", keep(status.substr(0, 3))});

  ResponseFieldCheck check;
  bool has_date = false, has_server = false;
  for (const ResponseField& field : fields) {
    const std::string_view value = chars::trim_ows(field.value);  // as the HTTP/1 path
    if (const char* error = check.add(field.name, value)) return error;
    if (check.last_was_duplicate()) continue;  // the same Content-Length twice: once
    if (is_hop_by_hop_field(field.name) || equals_ignore_case(field.name, "proxy-connection"))
      continue;  // RFC 9113 §8.2.2: the server frames the message
    const size_t offset = out->storage.size();
    for (char c : field.name) out->storage.push_back(chars::to_lower(c));
    const std::string_view name = std::string_view(out->storage).substr(offset, field.name.size());
    if (name == "date") has_date = true;
    else if (name == "server") has_server = true;
    out->fields.push_back(ResponseField{name, value});
  }
  if (!has_date) out->fields.push_back(ResponseField{"date", keep(date)});  // RFC 9110 §6.6.1
  if (!has_server) out->fields.push_back(ResponseField{"server", "narwhal"});
  out->content_length = check.content_length();
  // RFC 9110 §9.3.2 (HEAD), §15.3.5 (204), §15.4.5 (304): no content.
  out->no_body = head_method || out->status == 204 || out->status == 304;
  return nullptr;
}

}  // namespace narwhal::http::h2
