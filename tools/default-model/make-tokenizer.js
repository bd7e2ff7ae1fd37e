// Derives a ZAYA1-style tokenizer from the Gemma 3 tokenizer.json, the way ZAYA1's own differs
// from Gemma 3 (docs/ARCHITECTURE.md, "Tokenizer"): Gemma's turn tokens 105/106 become the ChatML
// markers <|im_start|>/<|im_end|>, unused 101..104 become the tool-call tokens, and <think> /
// </think> are added after <image_soft_token>. ZAYA1's real tokenizer.json may place the think
// tokens differently; this file only serves the synthetic default model.
//   node make-tokenizer.js GEMMA3_DIR OUT_DIR
const fs = require("fs");
const path = require("path");
const [src, out] = process.argv.slice(2);
const tok = JSON.parse(fs.readFileSync(path.join(src, "tokenizer.json"), "utf8"));
const renames = {
  101: "<zyphra_tool_call>", 102: "</zyphra_tool_call>", 103: "<zyphra_tool_response>",
  104: "</zyphra_tool_response>", 105: "<|im_start|>", 106: "<|im_end|>",
};
const vocab = tok.model.vocab;
for (const added of tok.added_tokens) {
  const name = renames[added.id];
  if (!name) continue;
  if (vocab[added.content] !== added.id) throw new Error(`vocab and added token ${added.id} disagree`);
  delete vocab[added.content];
  vocab[name] = added.id;
  added.content = name;
  added.special = true;
}
let next = Math.max(...tok.added_tokens.map((t) => t.id)) + 1;
for (const name of ["<think>", "</think>"]) {
  tok.added_tokens.push({ id: next++, content: name, single_word: false, lstrip: false, rstrip: false,
                          normalized: false, special: false });
}
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, "tokenizer.json"), JSON.stringify(tok));
const template = fs.readFileSync(path.join(__dirname, "chat_template.jinja"), "utf8");
fs.writeFileSync(path.join(out, "tokenizer_config.json"), JSON.stringify({
  add_bos_token: true, add_eos_token: false, bos_token: "<bos>", eos_token: "<|im_end|>", pad_token: "<pad>",
  unk_token: "<unk>", model_max_length: 131072, chat_template: template,
}, null, 2));
