// docs/settings.md must be exactly what the table generates.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config/config.h"

namespace narwhal::config {
namespace {

TEST(SettingsMarkdown, DocsFileIsUpToDate) {
  std::ifstream file(NARWHAL_SETTINGS_MD_PATH, std::ios::binary);
  ASSERT_TRUE(file) << "missing " << NARWHAL_SETTINGS_MD_PATH;
  std::stringstream contents;
  contents << file.rdbuf();
  EXPECT_TRUE(contents.str() == settings_markdown())
      << NARWHAL_SETTINGS_MD_PATH << " is stale; regenerate it with: narwhal_settings_doc > docs/settings.md";
}

TEST(SettingsMarkdown, DocumentsEverySetting) {
  std::string markdown = settings_markdown();
  for (const auto& setting : settings_table()) {
    EXPECT_NE(markdown.find("\n### `" + setting.name + "`\n"), std::string::npos) << setting.name;
    EXPECT_NE(markdown.find("\n## " + setting.section + "\n"), std::string::npos) << setting.section;
  }
  EXPECT_NE(markdown.find("**Command line:** `-w INT`, `--workers INT`"), std::string::npos);
  EXPECT_NE(markdown.find("**Default:** `2048`"), std::string::npos);
}

TEST(SettingsMarkdown, SaysWhatNarwhalDoesNotHonour) {
  std::string markdown = settings_markdown();
  auto section_of = [&](const std::string& name) {
    size_t start = markdown.find("\n### `" + name + "`\n");
    return markdown.substr(start, markdown.find("\n### ", start + 1) - start);
  };
  EXPECT_NE(section_of("tmp_upload_dir").find("**Not honoured yet:**"), std::string::npos);
  EXPECT_EQ(section_of("logconfig").find("**Not"), std::string::npos);
  EXPECT_EQ(section_of("certfile").find("**Not"), std::string::npos);
  EXPECT_EQ(section_of("workers").find("**Not"), std::string::npos);
}

}  // namespace
}  // namespace narwhal::config
