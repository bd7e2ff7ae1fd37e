"""Task generator of the default model: multi-step arithmetic word problems.

A problem is a short story about one person's stock of some item, one sentence per operation:

    Mia has 47 shells. She finds 38 more. She sells 3 boxes of 12 shells. Her stock doubles.
    How many shells does Mia have now?

Its solution is a short chain of thought, one equation per line, then the boxed answer:

    <think>
    47+38=85
    3*12=36
    85-36=49
    49*2=98
    </think>

    \\boxed{98}

The model sees the problem as a user turn and writes everything after the generation prompt
(the chat template opens `<think>`). Stdlib only: the generator is shared by training,
evaluation and the tests' data files.

Aggregation (Markovian RSA) examples are built from the model's own samples (see
`aggregation_target`): the target is the correct chain in which every step the candidates got
wrong *with the right operands* (a visible disagreement on the same left-hand side, or a shared
wrong value) is re-derived in smaller pieces, e.g. `85-36=85-30-6=55-6=49`.
"""
import random
import re

NAMES = [("Mia", "She", "Her"), ("Leo", "He", "His"), ("Ana", "She", "Her"), ("Tom", "He", "His"),
         ("Eva", "She", "Her"), ("Sam", "He", "His"), ("Ivy", "She", "Her"), ("Ben", "He", "His")]
ITEMS = ["apples", "coins", "cards", "shells", "stamps", "pens", "eggs", "books"]
MAX_VALUE = 999

# (kind, sentence). {k} {m} numbers, {P} pronoun, {F} friend, {I} item.
ADD = ["{P} buys {k} more.", "{P} finds {k} more.", "{F} gives {o} {k} more."]
SUB = ["{P} gives {k} to {F}.", "{P} sells {k}.", "{P} loses {k}."]
BAG_ADD = ["{P} buys {k} bags of {m} {I}."]
BAG_SUB = ["{P} sells {k} boxes of {m} {I}."]
DOUBLE = ["{H} stock doubles."]
TRIPLE = ["{H} stock triples."]


class Problem:
    def __init__(self, text, lines, answer, steps):
        self.text = text          # the user turn
        self.lines = lines        # chain-of-thought equations, e.g. ["47+38=85", ...]
        self.answer = answer      # int
        self.steps = steps        # number of operations (sentences after the first)

    def reasoning(self):
        return "\n".join(self.lines)

    def completion(self, lines=None):
        """What the assistant writes after the generation prompt `...<think>\\n`."""
        body = "\n".join(self.lines if lines is None else lines)
        return f"{body}\n</think>\n\n\\boxed{{{self.answer}}}"

    def to_json(self):
        return {"text": self.text, "lines": self.lines, "answer": self.answer, "steps": self.steps}

    @staticmethod
    def from_json(d):
        return Problem(d["text"], d["lines"], d["answer"], d["steps"])


def make_problem(rng, steps, max_add=60):
    """One problem with `steps` operations; every intermediate value stays in [0, MAX_VALUE]."""
    while True:
        name, pron, poss = rng.choice(NAMES)
        friend = rng.choice([n for n in NAMES if n[0] != name])[0]
        obj = "her" if pron == "She" else "him"
        item = rng.choice(ITEMS)
        x = rng.randint(10, 99)
        sentences = [f"{name} has {x} {item}."]
        start = x
        lines, ops = [], []
        ok = True
        for _ in range(steps):
            kind = rng.choices(["add", "sub", "bag_add", "bag_sub", "mul"], weights=[3, 3, 2, 1.5, 1])[0]
            fill = dict(P=pron, F=friend, o=obj, I=item, H=poss)
            if kind == "add":
                k = rng.randint(2, max_add)
                y = x + k
                s = rng.choice(ADD).format(k=k, **fill)
                lines.append(f"{x}+{k}={y}")
                ops.append(("+", k))
            elif kind == "sub":
                if x < 4:
                    ok = False
                    break
                k = rng.randint(2, min(max_add, x - 1))
                y = x - k
                s = rng.choice(SUB).format(k=k, **fill)
                lines.append(f"{x}-{k}={y}")
                ops.append(("-", k))
            elif kind in ("bag_add", "bag_sub"):
                k, m = rng.randint(2, 9), rng.randint(2, 12)
                p = k * m
                if kind == "bag_add":
                    y = x + p
                    s = rng.choice(BAG_ADD).format(k=k, m=m, **fill)
                    lines += [f"{k}*{m}={p}", f"{x}+{p}={y}"]
                    ops.append(("bag+", k, m))
                else:
                    if p >= x:
                        ok = False
                        break
                    y = x - p
                    s = rng.choice(BAG_SUB).format(k=k, m=m, **fill)
                    lines += [f"{k}*{m}={p}", f"{x}-{p}={y}"]
                    ops.append(("bag-", k, m))
            else:
                f = rng.choice([2, 2, 3])
                y = x * f
                s = rng.choice(DOUBLE if f == 2 else TRIPLE).format(**fill)
                lines.append(f"{x}*{f}={y}")
                ops.append(("*", f))
            if y > MAX_VALUE or y < 0:
                ok = False
                break
            sentences.append(s)
            x = y
        if not ok:
            continue
        sentences.append(f"How many {item} does {name} have now?")
        p = Problem(" ".join(sentences), lines, x, steps)
        p.start, p.ops = start, ops
        return p


def make_problems(seed, count, min_steps, max_steps):
    rng = random.Random(seed)
    return [make_problem(rng, rng.randint(min_steps, max_steps)) for _ in range(count)]


# ---- synthetic candidates (warm-up data for aggregation) -----------------------------------------

def _slip(rng, v):
    """A wrong value of the kind the model produces: off by one / two / ten / a hundred, or a
    changed digit."""
    for _ in range(10):
        kind = rng.random()
        if kind < 0.5:
            w = v + rng.choice([-10, 10, -1, 1, -2, 2, -20, 20, 100, -100])
        else:
            ds = list(str(v))
            i = rng.randrange(len(ds))
            ds[i] = str(rng.randrange(10))
            w = int("".join(ds))
        if w != v and 0 <= w <= MAX_VALUE:
            return w
    return v + 1


def synthetic_candidate(problem, rng, n_errors):
    """The problem's chain written with `n_errors` slips at random steps (a wrong result or a
    misread operand); later steps continue, correctly, from the wrong value."""
    n_lines = len(problem.lines)
    bad = set(rng.sample(range(n_lines), min(n_errors, n_lines)))
    x, out, li = problem.start, [], 0

    def res(v):
        nonlocal li
        if li in bad:
            v = _slip(rng, v)
        li += 1
        return v

    for op in problem.ops:
        if op[0] in "+-":
            k = op[1]
            if li in bad and rng.random() < 0.3:   # misread operand, correct arithmetic
                k = _slip(rng, k)
                y = x + k if op[0] == "+" else x - k
                li += 1
            else:
                y = res(x + k if op[0] == "+" else x - k)
            out.append(f"{x}{op[0]}{k}={y}")
            x = y
        elif op[0] == "*":
            y = res(x * op[1])
            out.append(f"{x}*{op[1]}={y}")
            x = y
        else:
            k, m = op[1], op[2]
            p = res(k * m)
            out.append(f"{k}*{m}={p}")
            y = res(x + p if op[0] == "bag+" else x - p)
            out.append(f"{x}{op[0][-1]}{p}={y}")
            x = y
    return "\n".join(out)


# ---- parsing model outputs -----------------------------------------------------------------------

LINE_RE = re.compile(r"^(\d+)([+\-*])(\d+)=(.*)$")


def parse_line(line):
    """'47+38=85' -> ('47+38', '85'); a re-derived line keeps its first '=' split
    ('85-36=85-30-6=55-6=49' -> ('85-36', '49')). None if it is not an equation."""
    line = line.strip()
    m = LINE_RE.match(line)
    if not m:
        return None
    lhs = f"{m.group(1)}{m.group(2)}{m.group(3)}"
    rhs = m.group(4).split("=")[-1]
    return lhs, rhs


def parse_chain(text):
    out = []
    for line in text.split("\n"):
        p = parse_line(line)
        if p:
            out.append(p)
    return out


# ---- re-derivation ------------------------------------------------------------------------------

def rederive(line):
    """The same step computed in smaller pieces; the line itself when it cannot be split."""
    m = LINE_RE.match(line)
    a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
    c = int(m.group(4))
    if op in "+-":
        sign = 1 if op == "+" else -1
        if b >= 10 and b % 10:
            t, u = b - b % 10, b % 10
            mid = a + sign * t
            return f"{a}{op}{b}={a}{op}{t}{op}{u}={mid}{op}{u}={c}"
        if b < 10:
            # go to the nearest multiple of ten first
            if op == "+":
                d = 10 - a % 10
            else:
                d = a % 10
            if 0 < d < b:
                mid = a + sign * d
                return f"{a}{op}{b}={a}{op}{d}{op}{b - d}={mid}{op}{b - d}={c}"
        return line
    # multiplication: split the larger factor
    big, small = (a, b) if a >= b else (b, a)
    if big >= 10:
        t, u = big - big % 10, big % 10
        if u == 0:
            return line
        return f"{a}*{b}={small}*{t}+{small}*{u}={small * t}+{small * u}={c}"
    if big >= 6:
        return f"{a}*{b}={small}*5+{small}*{big - 5}={small * 5}+{small * (big - 5)}={c}"
    return line


def aggregation_target(problem, candidate_texts):
    """The lines of the aggregation target for `problem` given the candidates' reasoning tails.

    Step k of the correct chain is re-derived when some candidate has the same left-hand side at
    some line but a wrong result for it: the candidates disagree on that computation (or agree on
    a wrong value). Steps no candidate got wrong are written plainly (copying is then safe)."""
    wrong_by_lhs = {}
    seen_lhs = set()
    correct = dict(parse_line(l) for l in problem.lines)
    for text in candidate_texts:
        for lhs, rhs in parse_chain(text):
            seen_lhs.add(lhs)
            if lhs in correct and rhs != correct[lhs]:
                wrong_by_lhs[lhs] = True
    out, rederived = [], 0
    for line in problem.lines:
        lhs, _ = parse_line(line)
        if wrong_by_lhs.get(lhs):
            r = rederive(line)
            rederived += r != line
            out.append(r)
        else:
            out.append(line)
    return out, rederived


def extract_answer(text):
    """The last \\boxed{...} integer of a completion, or None."""
    m = re.findall(r"\\boxed\{([^{}]*)\}", text)
    if not m:
        return None
    s = m[-1].strip()
    return s


if __name__ == "__main__":
    for p in make_problems(1, 3, 2, 7):
        print(p.text)
        print(p.completion())
        print()
    for l in ["47+38=85", "85-36=49", "53-8=45", "47+8=55", "3*12=36", "7*8=56", "49*2=98", "4*3=12", "47+30=77"]:
        print(l, "->", rederive(l))


# ---- the engine's aggregation prompt (zaya::rsa::PromptTemplates::defaults, src/rsa/config.cpp) ----

AGGREGATE = (
    "Below is a problem followed by {count} earlier attempts at solving it. Each attempt may contain "
    "mistakes or stop before the end. Read them critically: keep the reasoning that holds up, repair or "
    "drop the parts that do not, and where the attempts disagree, work out which line of argument is "
    "correct. If every attempt is wrong, solve the problem with a fresh approach. Do not copy out the "
    "problem or the attempts again.\n"
    "\n"
    "Problem:\n"
    "{problem}\n"
    "\n"
    "Earlier attempts (possibly wrong or incomplete):\n"
    "{candidates}\n"
    "\n"
    "Write one complete solution that improves on these attempts, reason it through clearly, and put the "
    "final answer in \\boxed{}.")
AGGREGATE_BLOCK = "---- Attempt {index} ----\n{text}"
REFINE = (
    "Below is a problem followed by an earlier attempt at solving it, which may be unfinished or wrong. "
    "Pick up that attempt and refine it; if its approach is mistaken, set it aside and solve the problem "
    "another way.\n"
    "\n"
    "Problem:\n"
    "{problem}\n"
    "\n"
    "Earlier attempt (possibly wrong or incomplete):\n"
    "{candidates}\n"
    "\n"
    "Using the problem and the attempt above, write your own complete solution and put the final answer "
    "in \\boxed{}.")
REFINE_BLOCK = "---- Attempt ----\n{text}"
BLOCK_SEPARATOR = "\n\n"


def _substitute(template, values):
    # single pass, like the engine: substituted text is never scanned again
    out, i = [], 0
    while i < len(template):
        if template[i] == "{":
            close = template.find("}", i + 1)
            if close >= 0 and template[i + 1:close] in values:
                out.append(values[template[i + 1:close]])
                i = close + 1
                continue
        out.append(template[i])
        i += 1
    return "".join(out)


def aggregation_text(problem_text, tails):
    refine = len(tails) == 1
    block = REFINE_BLOCK if refine else AGGREGATE_BLOCK
    cands = BLOCK_SEPARATOR.join(_substitute(block, {"index": str(i + 1), "text": t}) for i, t in enumerate(tails))
    return _substitute(REFINE if refine else AGGREGATE,
                       {"problem": problem_text, "candidates": cands, "count": str(len(tails))})
