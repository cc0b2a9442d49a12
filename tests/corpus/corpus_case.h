// One case of the gunicorn request corpus and how narwhal is judged on it
// (rules: gunicorn-requests/README.md).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/request_parser.h"

namespace narwhal::http::corpus {

struct Case {
  std::string id;      // "valid/001"
  std::string raw;     // bytes on the wire
  nlohmann::json doc;  // the whole case file
  bool valid() const { return id.rfind("valid/", 0) == 0; }
};

enum class Verdict { Passed, Stricter, Skipped, Failed };

struct Outcome {
  Verdict verdict = Verdict::Failed;
  std::string detail;  // skip reason, stricter rule, or failure message
};

std::vector<Case> load_cases(const std::string& directory);
Outcome evaluate(const Case& c);

// Helpers exposed for the runner's own tests.
std::string base64_decode(const std::string& in);
std::string latin1(const std::string& utf8);  // JSON text (one char per byte) → bytes

}  // namespace narwhal::http::corpus
