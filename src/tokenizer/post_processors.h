// src/tokenizer/post_processors.h - tokenizer.json "post_processor": what encode() adds around
// the model's ids when add_special_tokens is true (Gemma: a leading <bos>).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace zaya::tokenizer {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Wraps the ids of a single sequence.
  virtual void process(std::vector<int32_t>& ids) const = 0;
  // The ids this processor puts before / after a single sequence (for add_bos/add_eos inference).
  virtual std::vector<int32_t> prefix_ids() const = 0;
  virtual std::vector<int32_t> suffix_ids() const = 0;
};

// TemplateProcessing's "single" template flattened: special ids, the sequence, special ids.
// (Only the single-sequence template matters: zaya encodes one sequence at a time.)
class TemplatePostProcessor final : public PostProcessor {
 public:
  TemplatePostProcessor(std::vector<int32_t> before, std::vector<int32_t> after)
      : before_(std::move(before)), after_(std::move(after)) {}
  void process(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), before_.begin(), before_.end());
    ids.insert(ids.end(), after_.begin(), after_.end());
  }
  std::vector<int32_t> prefix_ids() const override { return before_; }
  std::vector<int32_t> suffix_ids() const override { return after_; }

 private:
  std::vector<int32_t> before_, after_;
};

class SequencePostProcessor final : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& step : steps_) step->process(ids);
  }
  std::vector<int32_t> prefix_ids() const override {
    std::vector<int32_t> ids;
    for (const auto& step : steps_) {
      auto p = step->prefix_ids();
      ids.insert(ids.begin(), p.begin(), p.end());
    }
    return ids;
  }
  std::vector<int32_t> suffix_ids() const override {
    std::vector<int32_t> ids;
    for (const auto& step : steps_) {
      auto s = step->suffix_ids();
      ids.insert(ids.end(), s.begin(), s.end());
    }
    return ids;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

}  // namespace zaya::tokenizer
