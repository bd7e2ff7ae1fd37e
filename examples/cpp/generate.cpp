// examples/cpp/generate.cpp - the C++ API used directly (include/zaya/*.h, linking zaya_core):
// load a model and its tokenizer, format a chat turn with the model's template, and stream a
// seeded answer with zaya::Generator. The C++ API is not ABI-stable (use zaya.h across library
// boundaries); it is what the C ABI, the CLI and the tests are built on.
//
//   example_cpp_generate <model-dir> [tokenizer-path] [question]
#include <zaya/chat_format.h>
#include <zaya/chat_output.h>
#include <zaya/context.h>
#include <zaya/error.h>
#include <zaya/generator.h>
#include <zaya/model.h>
#include <zaya/tokenizer.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <model-dir> [tokenizer-path] [question]\n", argv[0]);
    return 2;
  }
  try {
    auto model = zaya::Model::load(argv[1], {.backend = "auto"});
    const auto tokenizer = zaya::Tokenizer::load(argc > 2 ? argv[2] : argv[1]);
    const std::string question = argc > 3 ? argv[3] : "Tell me a story about a dragon.";

    zaya::ChatRequest chat;
    chat.messages.push_back(zaya::Value::object({{"role", "user"}, {"content", question}}));
    const std::vector<int32_t> prompt = zaya::ChatFormatter(tokenizer).encode(chat);

    zaya::Context context(model, {.max_sequences = 1, .max_context = 1024});
    zaya::Generator generator(context, &tokenizer);
    zaya::GenerationConfig config;
    config.max_tokens = 48;
    config.sampling.temperature = 0.7f;
    config.sampling.top_p = 0.95f;
    config.sampling.seed = 42;

    std::printf("%s\n> ", model->info().backend.c_str());
    auto results = generator.run({zaya::GenerationRequest{0, prompt, nullptr, config}},
                                 [](const zaya::TokenEvent& event) {
                                   std::fwrite(event.text.data(), 1, event.text.size(), stdout);
                                   std::fflush(stdout);
                                   return true;  // false would stop this request
                                 });
    const auto& r = results.front();
    const zaya::ChatOutput parsed = zaya::parse_chat_output(r.text);
    std::printf("\n[%zu prompt tokens, %zu generated, %s; %.0f tokens/s; answer %zu bytes]\n", prompt.size(),
                r.tokens.size(), zaya::finish_reason_name(r.finish),
                generator.decode_seconds() > 0 ? double(generator.decode_tokens()) / generator.decode_seconds() : 0.0,
                parsed.content.size());
    return r.tokens.empty() ? 1 : 0;
  } catch (const zaya::Error& e) {
    std::fprintf(stderr, "error (%s): %s\n", zaya::error_code_name(e.code()), e.what());
    return 1;
  }
}
