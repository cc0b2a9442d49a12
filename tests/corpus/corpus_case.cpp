// Judging one corpus case: settings → ParserOptions, every split, rfc_notes exceptions.
#include "corpus_case.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "parse_driver.h"

namespace narwhal::http::corpus {
namespace {

using nlohmann::json;
using testing::ParseRun;
using testing::ParsedRequest;

// Every gunicorn setting the corpus uses maps to a ParserOptions field, except the PROXY
// protocol and the forwarded scheme headers, which are not the parser's business (cases using
// them are skipped). The four relaxations are run with the setting on: narwhal's version of
// each is documented in docs/http.md "Relaxations".
struct Mapped {
  ParserOptions options;
  std::vector<std::string> unsupported;
};

Mapped map_settings(const json& settings) {
  Mapped m;
  for (const auto& [key, value] : settings.items()) {
    if (key == "header_map") {
      const std::string v = value.get<std::string>();
      m.options.header_map = v == "refuse" ? HeaderMap::Refuse
                             : v == "dangerous" ? HeaderMap::Dangerous
                                                : HeaderMap::Drop;
    } else if (key == "permit_unconventional_http_method") {
      m.options.permit_unconventional_http_method = value.get<bool>();
    } else if (key == "casefold_http_method") {
      m.options.casefold_http_method = value.get<bool>();
    } else if (key == "limit_request_line") {
      m.options.limits.request_line = value.get<size_t>();
    } else if (key == "limit_request_fields") {
      m.options.limits.fields = value.get<size_t>();
    } else if (key == "limit_request_field_size") {
      m.options.limits.field_size = value.get<size_t>();
    } else if (key == "permit_obsolete_folding") {
      m.options.permit_obsolete_folding = value.get<bool>();
    } else if (key == "strip_header_spaces") {
      m.options.strip_header_spaces = value.get<bool>();
    } else if (key == "permit_unconventional_http_version") {
      m.options.permit_unconventional_http_version = value.get<bool>();
    } else if (key == "tolerate_dangerous_framing") {
      m.options.tolerate_dangerous_framing = value.get<bool>();
    } else {
      m.unsupported.push_back(key);
    }
  }
  return m;
}

std::vector<json> notes_of(const Case& c, const std::string& kind) {
  std::vector<json> out;
  for (const json& n : c.doc.value("rfc_notes", json::array()))
    if (n.value("kind", "") == kind) out.push_back(n);
  return out;
}

bool has_outcome(const Case& c, const std::string& kind, const std::string& outcome) {
  for (const json& n : notes_of(c, kind))
    if (n.value("rfc_outcome", "") == outcome) return true;
  return false;
}

// "reject 400" / "status 414" → 400 / 414; 0 when the text names no status.
int status_in(const std::string& text) {
  for (size_t i = 0; i + 3 <= text.size(); ++i)
    if (std::isdigit(uint8_t(text[i])) && std::isdigit(uint8_t(text[i + 1])) &&
        std::isdigit(uint8_t(text[i + 2])) && (i + 3 == text.size() || text[i + 3] == ' '))
      return std::stoi(text.substr(i, 3));
  return 0;
}

std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(uint8_t(c)));
  return s;
}

testing::Fields expected_fields(const json& list) {
  testing::Fields out;
  for (const json& f : list) out.emplace_back(latin1(f[0]), latin1(f[1]));
  return out;
}

// "" when `got` is the expected request.
std::string compare(const ParsedRequest& got, const json& want, bool compare_split) {
  testing::Fields headers;
  for (const auto& [name, value] : got.headers) headers.emplace_back(upper(name), value);
  testing::Fields trailers;
  for (const auto& [name, value] : got.trailers) trailers.emplace_back(upper(name), value);
  if (got.method != latin1(want["method"])) return "method " + got.method;
  if (got.target != latin1(want["uri"])) return "uri " + got.target;
  if (got.version_major != want["version"][0] || got.version_minor != want["version"][1])
    return "version";
  if (headers != expected_fields(want["headers"])) return "headers";
  if (got.body != base64_decode(want["body_b64"])) return "body '" + got.body + "'";
  if (trailers != expected_fields(want.value("trailers", json::array()))) return "trailers";
  if (compare_split) {
    const TargetParts parts = split_target(got.target);
    if (std::string(parts.path) != latin1(want["path"])) return "path " + std::string(parts.path);
    if (std::string(parts.query) != latin1(want["query"])) return "query";
    if (std::string(parts.fragment) != latin1(want["fragment"])) return "fragment";
  }
  return "";
}

// "" when the run dispatched exactly `expect` (or its first requests, when `prefix_only`).
std::string compare_run(const Case& c, const ParseRun& run, bool prefix_only) {
  const json& expect = c.doc["expect"];
  if (!run.violation.empty()) return "contract violation: " + run.violation;
  if (!prefix_only && run.error_status) return "error " + std::to_string(run.error_status) + " " + run.error_reason;
  if (prefix_only ? run.requests.size() > expect.size() : run.requests.size() != expect.size())
    return "dispatched " + std::to_string(run.requests.size()) + " requests";
  const bool split = !has_outcome(c, "gunicorn-specific", "compare uri only");
  for (size_t i = 0; i < run.requests.size(); ++i)
    if (std::string why = compare(run.requests[i], expect[i], split); !why.empty())
      return "request " + std::to_string(i) + ": " + why;
  return "";
}

// A case whose last request announces more body than the bytes hold (gunicorn hands the
// application the short body). narwhal must deliver the same head and bytes, then report the
// incomplete message at EOF (RFC 9112 §8). Returns the verdict detail, or "" if not that case.
std::string truncated_body(const Case& c, const ParseRun& run) {
  const json& expect = c.doc["expect"];
  if (!run.error_at_eof || !run.has_incomplete || expect.empty()) return "";
  const json& last = expect.back();
  const std::string body = base64_decode(last["body_b64"]);
  uint64_t announced = 0;
  for (const json& f : last["headers"])
    if (f[0] == "CONTENT-LENGTH") announced = std::stoull(latin1(f[1]));
  if (announced <= body.size()) return "";
  ParseRun completed = run;
  completed.requests.push_back(run.incomplete);
  completed.error_status = 0;
  if (!compare_run(c, completed, false).empty()) return "";
  return "truncated body (Content-Length " + std::to_string(announced) + ", " +
         std::to_string(body.size()) + " bytes sent): same head and body bytes, then " +
         std::to_string(run.error_status) + " at EOF (RFC 9112 §8 incomplete message)";
}

Outcome evaluate_valid(const Case& c, const ParserOptions& options) {
  const auto splits = testing::standard_splits(c.raw.size());
  const ParseRun whole = testing::run_parser(c.raw, options, splits[0].sizes);
  for (const auto& split : splits) {
    const ParseRun run = testing::run_parser(c.raw, options, split.sizes);
    if (!(run == whole)) return {Verdict::Failed, "split " + split.name + " differs from whole"};
  }
  const std::string mismatch = compare_run(c, whole, false);
  if (mismatch.empty()) return {Verdict::Passed, ""};

  if (std::string why = truncated_body(c, whole); !why.empty()) return {Verdict::Stricter, why};

  // rfc-stricter: a rejection with one of the statuses the notes name is correct.
  const std::vector<json> stricter = notes_of(c, "rfc-stricter");
  std::set<int> allowed;
  bool only_host = !stricter.empty();
  for (const json& n : stricter) {
    allowed.insert(status_in(n.value("rfc_outcome", "")));
    only_host = only_host && n.value("note", "").find("without a Host field") != std::string::npos;
  }
  if (!allowed.count(whole.error_status))
    return {Verdict::Failed, mismatch};
  if (std::string why = compare_run(c, whole, true); !why.empty()) return {Verdict::Failed, why};
  std::string detail = std::to_string(whole.error_status) + " (" + whole.error_reason + ")";
  if (only_host) {  // the only difference is the Host rule: without it, gunicorn's answer
    ParserOptions no_host = options;
    no_host.require_host = false;
    if (std::string why = compare_run(c, testing::run_parser(c.raw, no_host, {c.raw.size()}), false);
        !why.empty())
      return {Verdict::Failed, "with require_host=false: " + why};
    detail += "; identical to gunicorn with require_host=false";
  }
  return {Verdict::Stricter, detail};
}

// The status narwhal must send, or 0 when any 4xx/5xx will do.
int expected_status(const Case& c) {
  for (const json& n : notes_of(c, "status-differs"))
    if (int s = status_in(n.value("rfc_outcome", ""))) return s;
  if (c.doc["expect_status"].is_number()) return c.doc["expect_status"].get<int>();
  return 0;
}

Outcome evaluate_invalid_once(const Case& c, const ParserOptions& options) {
  const auto splits = testing::standard_splits(c.raw.size());
  const ParseRun whole = testing::run_parser(c.raw, options, splits[0].sizes);
  for (const auto& split : splits) {
    const ParseRun run = testing::run_parser(c.raw, options, split.sizes);
    if (!(run == whole)) return {Verdict::Failed, "split " + split.name + " differs from whole"};
  }
  if (!whole.violation.empty()) return {Verdict::Failed, "contract violation: " + whole.violation};
  if (!whole.requests.empty()) return {Verdict::Failed, "a request was dispatched as complete"};
  if (whole.error_status < 400 || whole.error_status > 599) return {Verdict::Failed, "not rejected"};
  const int want = expected_status(c);
  if (want != 0 && want != whole.error_status)
    return {Verdict::Failed, "status " + std::to_string(whole.error_status) + " (" +
                                 whole.error_reason + "), expected " + std::to_string(want)};
  return {Verdict::Passed, ""};
}

// Many invalid cases are HTTP/1.1 without Host, so the Host rule alone would reject them. They
// are also run with require_host=false so that the rule each case is about is exercised.
Outcome evaluate_invalid(const Case& c, const ParserOptions& options) {
  Outcome o = evaluate_invalid_once(c, options);
  if (o.verdict != Verdict::Passed) return o;
  ParserOptions no_host = options;
  no_host.require_host = false;
  o = evaluate_invalid_once(c, no_host);
  if (o.verdict != Verdict::Passed) o.detail = "with require_host=false: " + o.detail;
  return o;
}

}  // namespace

std::vector<Case> load_cases(const std::string& directory) {
  std::vector<Case> cases;
  for (const char* kind : {"valid", "invalid"}) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(directory + "/" + kind))
      if (entry.path().extension() == ".json") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      std::ifstream in(path);
      Case c;
      c.doc = json::parse(in);
      c.id = c.doc["id"].get<std::string>();
      c.raw = base64_decode(c.doc["raw_b64"].get<std::string>());
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

Outcome evaluate(const Case& c) {
  const Mapped m = map_settings(c.doc["settings"]);
  if (!m.unsupported.empty()) {
    std::string names;
    for (const std::string& u : m.unsupported) names += (names.empty() ? "" : ", ") + u;
    return {Verdict::Skipped, "needs setting(s) outside the parser: " + names};
  }
  return c.valid() ? evaluate_valid(c, m.options) : evaluate_invalid(c, m.options);
}

std::string base64_decode(const std::string& in) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char ch : in) {
    const size_t v = alphabet.find(ch);
    if (v == std::string::npos) continue;  // '=' padding and whitespace
    buffer = (buffer << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((buffer >> bits) & 0xff));
    }
  }
  return out;
}

std::string latin1(const std::string& utf8) {
  std::string out;
  for (size_t i = 0; i < utf8.size(); ++i) {
    const uint8_t c = uint8_t(utf8[i]);
    if (c < 0x80) {
      out.push_back(char(c));
    } else if ((c & 0xe0) == 0xc0 && i + 1 < utf8.size()) {  // U+0080..U+07FF; corpus uses ≤ U+00FF
      out.push_back(char(((c & 0x1f) << 6) | (uint8_t(utf8[i + 1]) & 0x3f)));
      ++i;
    } else {
      out.push_back('?');  // not a Latin-1 character: cannot match any wire byte
    }
  }
  return out;
}

}  // namespace narwhal::http::corpus
