// The gunicorn request corpus (tests/corpus/gunicorn-requests) run through narwhal's parser
// (the official judge of tests/corpus, corpus_case.cpp) and through llhttp strict with a plain
// judge: a valid case must parse without error into the expected messages with the expected
// bodies; an invalid case must end in an llhttp error (llhttp_finish for EOF cases). Cases
// whose settings llhttp cannot express (limits, header_map, …) are counted separately.
// Usage: http_parser_corpus_compare [CASES_DIR]
#include <llhttp.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "corpus_case.h"

namespace {

using namespace narwhal::http::corpus;

struct LlhttpResult {
  std::vector<std::string> bodies;
  std::string current;
  bool error = false;
  std::string reason;
};

int on_body(llhttp_t* p, const char* at, size_t n) {
  static_cast<LlhttpResult*>(p->data)->current.append(at, n);
  return 0;
}
int on_message_complete(llhttp_t* p) {
  auto* r = static_cast<LlhttpResult*>(p->data);
  r->bodies.push_back(std::move(r->current));
  r->current.clear();
  return 0;
}

LlhttpResult run_llhttp(const std::string& raw) {
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  settings.on_body = on_body;
  settings.on_message_complete = on_message_complete;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &settings);
  LlhttpResult result;
  parser.data = &result;
  llhttp_errno_t err = llhttp_execute(&parser, raw.data(), raw.size());
  if (err == HPE_OK) err = llhttp_finish(&parser);
  if (err != HPE_OK && err != HPE_PAUSED_UPGRADE) {
    result.error = true;
    result.reason = std::string(llhttp_errno_name(err)) + ": " + llhttp_get_error_reason(&parser);
  }
  return result;
}

// llhttp has none of these knobs; a case that needs one cannot be judged fairly.
bool llhttp_can_run(const Case& c) { return c.doc["settings"].empty(); }

}  // namespace

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : NARWHAL_CORPUS_DIR;
  std::map<std::string, int> narwhal_count, llhttp_count;
  std::vector<std::string> llhttp_failures, narwhal_failures;
  int valid = 0, invalid = 0;
  for (const Case& c : load_cases(dir)) {
    (c.valid() ? valid : invalid)++;
    const std::string kind = c.valid() ? "valid" : "invalid";
    Outcome outcome = evaluate(c);
    if (outcome.verdict == Verdict::Skipped) {
      narwhal_count[kind + " n/a (settings)"]++;  // a gunicorn setting narwhal does not have
    } else {
      bool narwhal_ok = outcome.verdict == Verdict::Passed || outcome.verdict == Verdict::Stricter;
      narwhal_count[kind + (narwhal_ok ? " ok" : " FAILED")]++;
      if (outcome.verdict == Verdict::Stricter) narwhal_count[kind + "   of which stricter"]++;
      if (!narwhal_ok) narwhal_failures.push_back(c.id + ": " + outcome.detail);
    }

    if (!llhttp_can_run(c)) {
      llhttp_count[kind + " n/a (settings)"]++;
      continue;
    }
    LlhttpResult r = run_llhttp(c.raw);
    bool ok;
    std::string why;
    if (c.valid()) {
      const auto& expect = c.doc["expect"];
      ok = r.bodies.size() >= expect.size();
      for (size_t i = 0; ok && i < expect.size(); ++i) {
        std::string want = base64_decode(expect[i].value("body_b64", ""));
        if (r.bodies[i] != want) ok = false, why = "body " + std::to_string(i) + " differs";
      }
      // An error after the expected messages (e.g. data after Connection: close) is fine.
      if (!ok && why.empty()) why = r.error ? r.reason : "too few messages";
    } else {
      ok = r.error;
      if (!ok) why = "accepted (" + std::to_string(r.bodies.size()) + " messages)";
    }
    llhttp_count[kind + (ok ? " ok" : " wrong")]++;
    if (!ok) llhttp_failures.push_back(c.id + ": " + why);
  }
  std::printf("corpus: %d valid, %d invalid cases\n\nnarwhal (tests/corpus judge):\n", valid, invalid);
  for (auto& [k, v] : narwhal_count) std::printf("  %-24s %d\n", k.c_str(), v);
  for (auto& f : narwhal_failures) std::printf("    %s\n", f.c_str());
  std::printf("\nllhttp %d.%d.%d strict (plain judge):\n", LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR,
              LLHTTP_VERSION_PATCH);
  for (auto& [k, v] : llhttp_count) std::printf("  %-24s %d\n", k.c_str(), v);
  for (auto& f : llhttp_failures) std::printf("    %s\n", f.c_str());
  return 0;
}
