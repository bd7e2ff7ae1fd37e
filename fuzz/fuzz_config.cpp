// fuzz/fuzz_config.cpp - config.json in both schemas (ModelConfig::parse). The first byte picks
// the layout, the rest is the JSON text.
// Accepted: bad_format / unsupported, or a config that passes validate() again and whose derived
// sizes are positive, consistent and small enough that the loader's size products cannot overflow.
#include "fuzz_support.h"

#include <zaya/config.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zaya;
  fuzz::Input in(data, size);
  const auto layout = (in.byte() & 1) ? CheckpointLayout::legacy : CheckpointLayout::native;
  ModelConfig c;
  try {
    c = ModelConfig::parse(in.rest(), layout);
  } catch (const Error& e) {
    fuzz::expect_code(e, {ErrorCode::bad_format, ErrorCode::unsupported});
    return 0;
  }
  ZAYA_FUZZ_CHECK(c.layout == layout);
  c.validate();  // must not throw for what parse() accepted
  for (int64_t v : {c.hidden, c.blocks, c.q_heads, c.kv_heads, c.head_dim, c.experts, c.expert_width, c.router_width,
                    c.vocab, c.max_position})
    ZAYA_FUZZ_CHECK(v > 0);
  ZAYA_FUZZ_CHECK(c.q_heads % c.kv_heads == 0 && c.group_size() * c.kv_heads == c.q_heads);
  ZAYA_FUZZ_CHECK(c.kv_heads % 2 == 0 && c.value_proj_dim() * 2 == c.kv_dim());
  ZAYA_FUZZ_CHECK(c.rotary_dim() > 0 && c.rotary_dim() % 2 == 0 && c.rotary_dim() <= c.head_dim);
  ZAYA_FUZZ_CHECK(c.rms_eps > 0 && c.rms_eps < 1 && c.router_eps > 0 && c.router_eps < 1);
  for (int64_t e : c.eos_ids) ZAYA_FUZZ_CHECK(e >= 0 && e < c.vocab);
  ZAYA_FUZZ_CHECK(c.bos_id < c.vocab);
  // The largest products the loader and the forward pass form (tensor shapes, cache rows): UBSan
  // reports a signed overflow here if validate() let absurd geometry through.
  const int64_t expert_elems = c.experts * 2 * c.expert_width * c.hidden;
  const int64_t attn_elems = (c.q_dim() + c.kv_dim()) * c.hidden + c.conv_channels() * c.conv_channels() * 2;
  const int64_t embed_elems = c.vocab * c.hidden;
  const int64_t cache_per_token = c.blocks * c.kv_dim() * 2;
  volatile int64_t sink = expert_elems + attn_elems + embed_elems + cache_per_token * c.max_position;
  (void)sink;
  return 0;
}
