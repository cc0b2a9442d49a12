// GoogleTest front end: one test per corpus case, plus a summary with the counts.
#include <gtest/gtest.h>

#include <iostream>
#include <map>

#include "corpus_case.h"

namespace narwhal::http::corpus {
namespace {

const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases = load_cases(NARWHAL_CORPUS_DIR);
  return cases;
}

class CorpusCase : public ::testing::TestWithParam<size_t> {};

TEST_P(CorpusCase, MatchesExpectation) {
  const Case& c = all_cases().at(GetParam());
  const Outcome o = evaluate(c);
  if (o.verdict == Verdict::Skipped) GTEST_SKIP() << c.id << ": " << o.detail;
  EXPECT_NE(o.verdict, Verdict::Failed) << c.id << ": " << o.detail;
  if (o.verdict == Verdict::Stricter) RecordProperty("stricter_than_gunicorn", o.detail);
}

std::string case_name(const ::testing::TestParamInfo<size_t>& info) {
  std::string name = all_cases().at(info.param).id;
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Gunicorn, CorpusCase,
                         ::testing::Range<size_t>(0, all_cases().size()), case_name);

TEST(CorpusSummary, Counts) {
  std::map<Verdict, int> counts;
  for (const Case& c : all_cases()) {
    const Outcome o = evaluate(c);
    ++counts[o.verdict];
    if (o.verdict == Verdict::Skipped || o.verdict == Verdict::Stricter ||
        o.verdict == Verdict::Failed)
      std::cout << (o.verdict == Verdict::Skipped    ? "  skipped   "
                    : o.verdict == Verdict::Stricter ? "  stricter  "
                                                     : "  FAILED    ")
                << c.id << ": " << o.detail << "\n";
  }
  std::cout << "corpus: " << all_cases().size() << " cases, " << counts[Verdict::Passed]
            << " passed, " << counts[Verdict::Stricter] << " stricter than gunicorn (correct), "
            << counts[Verdict::Skipped] << " skipped, " << counts[Verdict::Failed] << " failed\n";
  EXPECT_EQ(all_cases().size(), 137u);
  EXPECT_EQ(counts[Verdict::Failed], 0);
}

TEST(CorpusHelpers, Decoding) {
  EXPECT_EQ(base64_decode("aGVsbG8gd29ybGQ="), "hello world");
  EXPECT_EQ(latin1("caf\xc3\x83\xc2\xa9"), "caf\xc3\xa9");
}

}  // namespace
}  // namespace narwhal::http::corpus
