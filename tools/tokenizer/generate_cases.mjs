// tools/tokenizer/generate_cases.mjs - expected outputs from the reference `tokenizers` library
// (npm @anush008/tokenizers, a binding of huggingface/tokenizers 0.22) for zaya's tokenizer tests.
//
//   tools/tokenizer/generate-cases.sh        (installs the reference into .cache and runs this)
//
// Writes into tests/data/tokenizer/:
//   gemma3_edge_cases.jsonl    zaya's own edge cases on the real Gemma 3 tokenizer.json
//   gemma3_decode_cases.jsonl  decode-only cases (byte-fallback runs, special tokens, skip flag)
//   mini_sp_model.json         a small SentencePiece-style BPE model cut out of Gemma 3's
//   mini_byte_level_model.json the same vocabulary in GPT-2's byte-level alphabet ("a b" merges)
//   mini_affix_model.json      a hand-made BPE with continuing_subword_prefix / end_of_word_suffix
//   word_regex_cases.jsonl     how the GPT-2 / Llama 3 / Qwen 2 split regexes cut random tricky text
//   synthetic_variants.jsonl   tokenizers built from those models with other normalizers,
//                              pre-tokenizers, decoders, post-processors and added tokens, with
//                              the reference's ids / decodes for a shared list of texts.
// The C++ tests never run node: they read these files.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const moduleDir = args.module ?? process.env.ZAYA_TOKENIZERS_MODULE_DIR;
const gemmaPath = args.gemma ?? process.env.ZAYA_GEMMA3_TOKENIZER;
const outDir = args.out ?? 'tests/data/tokenizer';
if (!moduleDir || !gemmaPath) {
  console.error('usage: generate_cases.mjs --module=DIR_WITH_NODE_MODULES --gemma=tokenizer.json [--out=DIR]');
  process.exit(2);
}
const tk = createRequire(path.join(path.resolve(moduleDir), 'noop.js'))('@anush008/tokenizers');

async function reference(tokenizer, text) {
  const withSpecial = (await tokenizer.encode(text, null, { addSpecialTokens: true })).getIds();
  const noSpecial = (await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds();
  return {
    text,
    ids: withSpecial,
    ids_no_special: noSpecial,
    decoded: await tokenizer.decode(noSpecial, false),
    decoded_skip_special: await tokenizer.decode(withSpecial, true),
  };
}

function writeJsonl(file, rows) {
  fs.writeFileSync(path.join(outDir, file), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  console.error(`wrote ${file} (${rows.length} lines)`);
}

// ---------------------------------------------------------------------------------------------
// 1. Gemma 3 edge cases.
const gemmaJson = JSON.parse(fs.readFileSync(gemmaPath, 'utf8'));
const gemma = tk.Tokenizer.fromFile(gemmaPath);
const mixedParagraph = [
  'The quick brown fox jumps over the lazy dog. ',
  'Der schnelle braune Fuchs springt über den faulen Hund. ',
  'Быстрая коричневая лиса прыгает через ленивую собаку. ',
  '敏捷的棕色狐狸跳过了懒狗。 ',
  'すばやい茶色の狐がのろまな犬を飛び越える。 ',
  'وثب الثعلب البني السريع فوق الكلب الكسول. ',
  '빠른 갈색 여우가 게으른 개를 뛰어넘는다. ',
  '\tcode:\n\tfor (int i = 0; i < 10; ++i) { sum += i * 2; }\n',
].join('');
const gemmaTexts = [
  'a', ' a', 'a ', '  ', '\n', '\n\n', '\t', '\t\t\t x', '\r', '\r\n\r\n', 'line1\nline2\n',
  ' '.repeat(40), '\n'.repeat(40), '\t'.repeat(40), ' \n \n ', 'a' + ' '.repeat(50) + 'b', 'x' + ' \t'.repeat(10) + 'y',
  '\u2581', '\u2581\u2581\u2581 literal lower-one-eighth blocks', 'mixed\u2581 and space',
  '\u00a0non-breaking\u00a0spaces\u3000ideographic', 'zero\u200bwidth\u200djoiner\ufeffbom',
  '👍🏽', '👨‍👩‍👧‍👦', '🇯🇵🇺🇸', '🧿🪬🫠', 'emoji at end 😀', '😀😀😀😀😀',
  '東京は日本の首都です。', '한국어 텍스트와 숫자 123', 'ภาษาไทยไม่มีช่องว่าง', 'नमस्ते दुनिया', 'བོད་ཡིག',
  '𒀀𒀁 cuneiform', '𐀀 linear b', 'rare \u{E0001}\u{E0041} tags', '\u{10FFFD}\u{F0000}', 'Private \ue000',
  '<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n', 'x<bos>y', '<bos><bos>', '<start_of_turn><end_of_turn>',
  '<table><tr><td>1</td></tr></table>', '<unused0><unused99>', '[multimodal]', '<mask> masked', '<image_soft_token>',
  '<start_of_image><end_of_image>', '<start_of_tur', '<<bos>>', '< bos>', '<BOS>', '<eos>', 'text<eos>', '<pad><unk>',
  '<h1>Title</h1>\n<p>para</p>', 'a\tb\t\tc\t\t\td', '\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n',
  'x'.repeat(1000), 'ab'.repeat(500), '12345678901234567890', '3.14159265358979', '$1,000,000.00',
  'naïve café résumé', 'e\u0301\u0302\u0303', 'ｆｕｌｌｗｉｄｔｈ ＡＢＣ', 'ﬁ ﬂ ﬀ', 'Ω Å Å', '\u0000\u0001\u001f\u007f',
  "I'm sure they'll say it's 'quoted' \"double\"", 'camelCaseAndSnake_case and kebab-case', 'UPPER lower MiXeD',
  'https://example.com/a/b?c=d&e=f#frag', 'user@example.org', '~!@#$%^&*()_+-={}[]|\\:;"\'<>,.?/',
  mixedParagraph, mixedParagraph.repeat(8),
];
const gemmaRows = [];
for (const text of gemmaTexts) gemmaRows.push(await reference(gemma, text));
writeJsonl('gemma3_edge_cases.jsonl', gemmaRows);

// Decode-only cases: sequences an encoder would never produce but a model can.
const id = (t) => gemma.tokenToId(t);
const bytes = (...bs) => bs.map((b) => id(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
const decodeSequences = [
  bytes(0xe2, 0x82, 0xac), bytes(0xe2, 0x82), bytes(0xff), bytes(0xe2, 0x82, 0xac, 0xff), bytes(0xc3),
  [id('Hello'), ...bytes(0xf0, 0x9f, 0x98, 0x80), id('▁world')], [id('Hello'), ...bytes(0xf0, 0x9f), id('▁world')],
  [...bytes(0x41), id('▁the'), ...bytes(0x80, 0x80)], [id('<bos>'), id('Hi'), id('<end_of_turn>'), id('\n')],
  [id('<start_of_turn>'), id('user'), id('\n'), id('<mask>'), id('<unused5>'), id('<image_soft_token>')],
  [id('▁'), id('▁▁'), id('▁the'), id('\t\t')], [id('<pad>'), id('<eos>'), id('<unk>')], [],
];
const decodeRows = [];
for (const ids of decodeSequences) {
  for (const skip of [false, true]) decodeRows.push({ ids, skip_special: skip, decoded: await gemma.decode(ids, skip) });
}
writeJsonl('gemma3_decode_cases.jsonl', decodeRows);

// ---------------------------------------------------------------------------------------------
// 2. Small models cut out of Gemma 3's vocabulary.
const syntheticTexts = [
  '', 'Hello world', ' leading space', 'trailing space ', '  two  spaces  ', 'a   b', '\n', 'x\r\ny', 'tab\tseparated',
  "I'm sure they'll say it's 'quoted' and DON'T SHOUT", "it's isn't 'S 'll", 'Numbers 1234567 and 3.14 and ٣٤٥',
  'naïve café', 'e\u0301 vs é', 'Å vs A\u030A', 'ﬁ ligature ＡＢＣ１２３ fullwidth', '한국어 \u1100\u1161\u11a8 jamo',
  '東京 日本語 中文', '𒀀 unknown ß', 'emoji 😀👍🏽', '  \n\n  indented\n', 'end with newlines\n\n',
  '<start_of_turn>user\nhello<end_of_turn>', 'x<start_of_turn>y', 'say <mask> now', 'a<mask>b', 'a  <mask>  b',
  '<sw> x<sw> <sw>y <sw>', 'hello world inside', 'Hello World', 'comma,separated,,values,', ',lead', 'trail,',
  'mixed 123abc!? end', '   ', '\t\t', 'snake_case_name', 'a.b.c', 'x'.repeat(300),
  'lower lowest newest widest low lows', 'tow dew hat said', 'xyz lo low',
  '<|im_start|>user\nhi<|eot_id|>', 'x<|endoftext|> y', ' <|begin_of_text|>  z', 'é<sw> <sw>ü _<sw> <sw>.',
  'a <mask> <mask> b', '<mask>\u3000<mask>\t<mask>', 'word<mask>word', 'hello worldly hello world',
];

const keepChars = new Set();
for (let c = 0x20; c < 0x7f; c++) keepChars.add(String.fromCharCode(c));
for (const t of syntheticTexts) for (const ch of t) keepChars.add(ch);
for (const ch of ['\u2581', '\n', '\t']) keepChars.add(ch);
for (const ch of ['𒀀', 'ß', '٣']) keepChars.delete(ch);  // left out on purpose: unknown characters

const gemmaVocab = gemmaJson.model.vocab;
const kept = new Set([...keepChars].filter((ch) => ch in gemmaVocab));
const miniMerges = [];
for (const m of gemmaJson.model.merges) {
  const [a, b] = Array.isArray(m) ? m : m.split(' ');
  if (kept.has(a) && kept.has(b) && (a + b) in gemmaVocab) {
    miniMerges.push([a, b]);
    kept.add(a + b);
    if (miniMerges.length >= 3000) break;
  }
}
const specials = ['<pad>', '<eos>', '<bos>', '<unk>'];
const byteTokens = [...Array(256).keys()].map((b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
const miniVocab = {};
for (const t of [...specials, ...byteTokens, ...[...kept].sort((x, y) => gemmaVocab[x] - gemmaVocab[y])]) {
  if (!(t in miniVocab)) miniVocab[t] = Object.keys(miniVocab).length;
}
fs.writeFileSync(path.join(outDir, 'mini_sp_model.json'), JSON.stringify({ vocab: miniVocab, merges: miniMerges }) + '\n');

// Byte-level version: every token through GPT-2's byte -> character table ("▁" becomes a space first).
const byteToChar = [];
{
  let extra = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    byteToChar.push(String.fromCodePoint(printable ? b : extra++));
  }
}
const toByteLevel = (t) => [...Buffer.from(t.replaceAll('\u2581', ' '), 'utf8')].map((b) => byteToChar[b]).join('');
const blSpecials = ['<|endoftext|>', '<|begin_of_text|>', '<|eot_id|>', '<|im_start|>'];
const blVocab = {};
for (const t of [...blSpecials, ...byteToChar]) if (!(t in blVocab)) blVocab[t] = Object.keys(blVocab).length;
const blMerges = [];
for (const [a, b] of miniMerges) {
  const [x, y, xy] = [toByteLevel(a), toByteLevel(b), toByteLevel(a + b)];
  // Multi-byte characters have no merges building them from bytes here, so only keep merges whose
  // parts are reachable; add the result to the vocabulary.
  if (x in blVocab && y in blVocab) {
    if (!(xy in blVocab)) blVocab[xy] = Object.keys(blVocab).length;
    blMerges.push(`${x} ${y}`);
  }
}
fs.writeFileSync(path.join(outDir, 'mini_byte_level_model.json'), JSON.stringify({ vocab: blVocab, merges: blMerges }) + '\n');

// A hand-made word-level BPE with a continuing-subword prefix and an end-of-word suffix (the
// options real SentencePiece/Llama files never use, but older BPE files do).
const affixVocab = {};
for (const t of ['<unk>', 'l', 'o', 'w', 'e', 'r', 'n', 's', 't', 'i', 'd', 'h', 'a',
  '##o', '##w', '##e', '##r', '##n', '##s', '##t', '##i', '##d', '##h', '##a',
  '##o</w>', '##w</w>', '##e</w>', '##r</w>', '##n</w>', '##s</w>', '##t</w>', '##d</w>', '##a</w>',
  'l</w>', 'o</w>', 'a</w>', 'lo', 'low', 'low</w>', '##er</w>', '##es', '##est</w>', 'ne', 'new', '##ew', 'wi', 'wid', '##dest</w>',
  'lower</w>']) affixVocab[t] = Object.keys(affixVocab).length;
const affixMerges = [['l', '##o'], ['lo', '##w'], ['lo', '##w</w>'], ['##e', '##r</w>'], ['##e', '##s'], ['##es', '##t</w>'],
  ['n', '##e'], ['ne', '##w'], ['w', '##i'], ['wi', '##d'], ['##d', '##est</w>'], ['low', '##er</w>']];
fs.writeFileSync(path.join(outDir, 'mini_affix_model.json'), JSON.stringify({ vocab: affixVocab, merges: affixMerges }) + '\n');

const added = (id, content, special, extra = {}) => ({
  id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special, ...extra,
});
const spAdded = (vocab) => {
  const base = Object.keys(vocab).length;
  return [
    added(0, '<pad>', true, { normalized: false }), added(1, '<eos>', true, { normalized: false }),
    added(2, '<bos>', true, { normalized: false }), added(3, '<unk>', true, { normalized: false }),
    added(base, '<start_of_turn>', true, { normalized: false }), added(base + 1, '<end_of_turn>', true, { normalized: false }),
    added(base + 2, '<mask>', false, { lstrip: true, rstrip: true, normalized: false }),
    added(base + 3, '<sw>', false, { single_word: true, normalized: false }),
    added(base + 4, 'hello world', false, { normalized: true }),
  ];
};
const blAdded = [
  added(0, '<|endoftext|>', true, { normalized: false }), added(1, '<|begin_of_text|>', true, { normalized: false }),
  added(2, '<|eot_id|>', true, { normalized: false }), added(3, '<|im_start|>', true, { normalized: false }),
];
const template = (before, after, specialTokens) => ({
  type: 'TemplateProcessing',
  single: [...before.map((t) => ({ SpecialToken: { id: t, type_id: 0 } })), { Sequence: { id: 'A', type_id: 0 } },
    ...after.map((t) => ({ SpecialToken: { id: t, type_id: 0 } }))],
  pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
  special_tokens: Object.fromEntries(Object.entries(specialTokens).map(([t, i]) => [t, { id: t, ids: [i], tokens: [t] }])),
});
const replace = (from, to) => ({ type: 'Replace', pattern: { String: from }, content: to });
const gemmaDecoder = { type: 'Sequence', decoders: [replace('\u2581', ' '), { type: 'ByteFallback' }, { type: 'Fuse' }] };
const spModel = { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
  fuse_unk: true, byte_fallback: true, ignore_merges: false };
const blModel = { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
  fuse_unk: false, byte_fallback: false, ignore_merges: false };
const llama3Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const qwen2Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const gpt2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const byteLevel = (addPrefixSpace, useRegex) => ({ type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: useRegex });
const bos = template(['<bos>'], [], { '<bos>': 2 });

const variants = [
  { name: 'gemma_style', model_file: 'mini_sp_model.json', model: spModel,
    normalizer: replace(' ', '\u2581'), pre_tokenizer: { type: 'Split', pattern: { String: ' ' }, behavior: 'MergedWithPrevious', invert: false },
    post_processor: bos, decoder: gemmaDecoder },
  { name: 'gemma_style_ignore_merges', model_file: 'mini_sp_model.json', model: { ...spModel, ignore_merges: true },
    normalizer: replace(' ', '\u2581'), pre_tokenizer: null, post_processor: bos, decoder: gemmaDecoder },
  { name: 'llama2_style', model_file: 'mini_sp_model.json', model: spModel,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, replace(' ', '\u2581')] },
    pre_tokenizer: null, post_processor: bos,
    decoder: { type: 'Sequence', decoders: [replace('\u2581', ' '), { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] } },
  { name: 'metaspace_first', model_file: 'mini_sp_model.json', model: spModel, normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: true },
    post_processor: template(['<bos>'], ['<eos>'], { '<bos>': 2, '<eos>': 1 }),
    decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: true } },
  { name: 'metaspace_always_nosplit_nfkc', model_file: 'mini_sp_model.json', model: spModel, normalizer: { type: 'NFKC' },
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: false },
    post_processor: null, decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: false } },
  { name: 'nfc_strip_unk_not_fused', model_file: 'mini_sp_model.json', model: { ...spModel, byte_fallback: false, fuse_unk: false },
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Strip', strip_left: true, strip_right: true }] },
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
    post_processor: bos, decoder: { type: 'Sequence', decoders: [{ type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true }] } },
  { name: 'nfkd_unk_fused', model_file: 'mini_sp_model.json', model: { ...spModel, byte_fallback: false, fuse_unk: true },
    normalizer: { type: 'NFKD' }, pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'never', split: true },
    post_processor: null, decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'never', split: true } },
  { name: 'nfd_digits', model_file: 'mini_sp_model.json', model: spModel, normalizer: { type: 'NFD' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true }] },
    post_processor: null, decoder: { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true }] } },
  ...['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'].flatMap((behavior) => [false, true].map((invert) => ({
    name: `split_comma_${behavior}${invert ? '_inverted' : ''}`, model_file: 'mini_sp_model.json', model: spModel,
    normalizer: replace(' ', '\u2581'), pre_tokenizer: { type: 'Split', pattern: { String: ',' }, behavior, invert },
    post_processor: null, decoder: gemmaDecoder }))),
  { name: 'digits_contiguous', model_file: 'mini_sp_model.json', model: spModel, normalizer: replace(' ', '\u2581'),
    pre_tokenizer: { type: 'Digits', individual_digits: false }, post_processor: null, decoder: gemmaDecoder },
  { name: 'no_decoder', model_file: 'mini_sp_model.json', model: spModel, normalizer: replace(' ', '\u2581'),
    pre_tokenizer: null, post_processor: null, decoder: null },
  { name: 'no_unk_no_fallback_drops_unknown', model_file: 'mini_sp_model.json',
    model: { ...spModel, unk_token: null, byte_fallback: false, fuse_unk: false },
    normalizer: replace(' ', '\u2581'), pre_tokenizer: null, post_processor: null, decoder: gemmaDecoder },
  { name: 'affixes_whitespace_split', model_file: 'mini_affix_model.json', added_tokens: [],
    model: { ...spModel, byte_fallback: false, fuse_unk: false, continuing_subword_prefix: '##', end_of_word_suffix: '</w>' },
    normalizer: null, pre_tokenizer: { type: 'Split', pattern: { String: ' ' }, behavior: 'Removed', invert: false },
    post_processor: null, decoder: null },
  { name: 'gpt2_style', model_file: 'mini_byte_level_model.json', model: blModel, added_tokens: blAdded, normalizer: null,
    pre_tokenizer: byteLevel(false, true), post_processor: byteLevel(false, true), decoder: byteLevel(false, true) },
  { name: 'gpt2_style_prefix_space', model_file: 'mini_byte_level_model.json', model: blModel, added_tokens: blAdded, normalizer: null,
    pre_tokenizer: byteLevel(true, true), post_processor: byteLevel(true, true), decoder: byteLevel(true, true) },
  { name: 'gpt2_regex_split', model_file: 'mini_byte_level_model.json', model: blModel, added_tokens: blAdded, normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: gpt2Regex }, behavior: 'Isolated', invert: false }, byteLevel(false, false)] },
    post_processor: null, decoder: byteLevel(false, true) },
  { name: 'llama3_style', model_file: 'mini_byte_level_model.json', model: { ...blModel, ignore_merges: true }, added_tokens: blAdded, normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: llama3Regex }, behavior: 'Isolated', invert: false }, byteLevel(false, false)] },
    post_processor: { type: 'Sequence', processors: [byteLevel(true, false), template(['<|begin_of_text|>'], [], { '<|begin_of_text|>': 1 })] },
    decoder: byteLevel(true, true) },
  { name: 'roberta_processing', model_file: 'mini_byte_level_model.json', model: blModel, added_tokens: blAdded, normalizer: null,
    pre_tokenizer: byteLevel(true, true), decoder: byteLevel(true, true),
    post_processor: { type: 'RobertaProcessing', sep: ['<|eot_id|>', 2], cls: ['<|begin_of_text|>', 1], trim_offsets: true, add_prefix_space: true } },
  { name: 'bert_processing', model_file: 'mini_sp_model.json', model: spModel, normalizer: replace(' ', '\u2581'),
    pre_tokenizer: null, decoder: gemmaDecoder, post_processor: { type: 'BertProcessing', sep: ['<eos>', 1], cls: ['<bos>', 2] } },
  { name: 'qwen2_style', model_file: 'mini_byte_level_model.json', model: blModel, added_tokens: blAdded, normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: qwen2Regex }, behavior: 'Isolated', invert: false }, byteLevel(false, false)] },
    post_processor: byteLevel(false, false), decoder: byteLevel(false, false) },
];

const modelTexts = Object.fromEntries(['mini_sp_model.json', 'mini_byte_level_model.json', 'mini_affix_model.json']
  .map((f) => [f, fs.readFileSync(path.join(outDir, f), 'utf8').trim()]));
// The C++ test assembles the same text: see assemble_tokenizer_json() in tests/test_tokenizer.cpp.
function assemble(v) {
  const addedTokens = v.added_tokens ?? spAdded(JSON.parse(modelTexts[v.model_file]).vocab);
  const model = JSON.stringify(v.model);
  return '{"version":"1.0","truncation":null,"padding":null,' +
    `"added_tokens":${JSON.stringify(addedTokens)},"normalizer":${JSON.stringify(v.normalizer)},` +
    `"pre_tokenizer":${JSON.stringify(v.pre_tokenizer)},"post_processor":${JSON.stringify(v.post_processor)},` +
    `"decoder":${JSON.stringify(v.decoder)},"model":${model.slice(0, -1)},${modelTexts[v.model_file].slice(1)}}`;
}
const rows = [];
for (const v of variants) {
  const tokenizer = tk.Tokenizer.fromString(assemble(v));
  const cases = [];
  for (const text of syntheticTexts) cases.push(await reference(tokenizer, text));
  const { name, model_file, model, normalizer, pre_tokenizer, post_processor, decoder } = v;
  rows.push({ name, model_file, added_tokens: v.added_tokens ?? spAdded(JSON.parse(modelTexts[v.model_file]).vocab),
    model, normalizer, pre_tokenizer, post_processor, decoder, cases });
}
writeJsonl('synthetic_variants.jsonl', rows);

// ---------------------------------------------------------------------------------------------
// 3. The split regexes zaya matches by hand, on random strings of tricky characters.
{
  const pool = ['a', 'Z', 'é', 'ß', '中', 'ش', 'ſ', 'K', '\u0301', '\u0903', '0', '7', '٣', '²', 'Ⅻ', '½', ' ', '  ', '\t', '\n',
    '\r', '\r\n', '\u00a0', '\u2028', '\u3000', '\u0085', '\u200b', '\u000b', "'", "'s", "'S", "'ll", "'LL", "'Re", "'ve", "'d",
    "'m", "'t", "'x", '.', ',', '!', '-', '_', '"', '(', '😀', '👍🏽', '\u{10FFFD}', '#', '$', 'x1', 'ab'];
  let state = 4242;  // xorshift32
  const next = () => ((state ^= state << 13), (state ^= state >>> 17), (state ^= state << 5), (state >>>= 0), state);
  const texts = [];
  for (let i = 0; i < 400; i++) {
    let text = '';
    const length = next() % 16;
    for (let j = 0; j < length; j++) text += pool[next() % pool.length];
    texts.push(text);
  }
  const regexes = { gpt2: gpt2Regex, llama3: llama3Regex, qwen2: qwen2Regex };
  const rows = [];
  for (const [name, regex] of Object.entries(regexes)) {
    const json = JSON.parse(assemble(variants.find((v) => v.name === 'gemma_style')));
    json.normalizer = null;
    json.pre_tokenizer = { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false };
    const pre = tk.Tokenizer.fromString(JSON.stringify(json)).getPreTokenizer();
    for (const text of texts) rows.push({ regex: name, text, pieces: pre.preTokenizeString(text).map(([piece]) => piece) });
  }
  writeJsonl('word_regex_cases.jsonl', rows);
}
