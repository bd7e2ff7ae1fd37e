#!/usr/bin/python3
"""Generates tests/data/chat-templates/feature_cases.jsonl: expected renders of small feature
templates and of the golden templates with more conversations, produced by Python jinja2 set up
exactly the way Hugging Face transformers renders chat templates.

Needs Debian's python3-jinja2 (apt-get install python3-jinja2); run with /usr/bin/python3:

    /usr/bin/python3 tools/chat_template/generate_cases.py

The C++ tests only read the generated file; they never run Python.

Each output line has: template_name, case, template, variables (the template's top-level names),
and either "output" (the exact text) or "error" plus "error_type" (the Python exception class).
"""
import json
import os
import sys
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "chat-templates", "feature_cases.jsonl")
GOLDEN = os.path.join(ROOT, "tests", "data", "chat-templates", "cases.jsonl")

# The tests render with strftime_now fixed to this moment.
NOW = datetime(2026, 11, 22, 13, 45, 7)


class AssistantTracker(Extension):
    """HF's {% generation %} tag; renders its body unchanged."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def hf_environment():
    """transformers.utils.chat_template_utils._compile_jinja_template, with a fixed clock."""

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(template, variables):
    try:
        return {"output": hf_environment().from_string(template).render(**variables)}
    except Exception as e:  # the expected result of an error case
        return {"error": str(e), "error_type": type(e).__name__}


# ---- feature templates ---------------------------------------------------------------------------
# (group, template, variables). Newlines are written as \n inside the Python strings.

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}]

FEATURES = [
    # whitespace control, trim_blocks, lstrip_blocks, comments, raw
    ("whitespace", "a  {% if true %}  b  {% endif %}  c", {}),
    ("whitespace", "a\n  {% if true %}\n  b\n  {% endif %}\nc", {}),
    ("whitespace", "a\n  {%- if true -%}\n  b\n  {%- endif %}\nc", {}),
    ("whitespace", "a\n  {%+ if true %}\nb{% endif +%}\nc", {}),
    ("whitespace", "  {{ 'x' }}\n  {{- 'y' -}}  \n z", {}),
    ("whitespace", "{# comment #}\na\n  {# c2 #}\nb{#- c3 -#}  c", {}),
    ("whitespace", "a {# x -#}   \n b", {}),
    ("whitespace", "{% raw %}{{ x }}{% endraw %}|{%- raw -%}  {% if %}  {%- endraw %}|", {}),
    ("whitespace", "  {% raw %}\n  x\n  {% endraw %}\ny", {}),
    ("whitespace", "line\n\n", {}),
    ("whitespace", "a\r\nb{{ 'c' }}\r\nd\re", {}),
    ("whitespace", "{% for i in range(3) %}\n  {{ i }}\n{% endfor %}\ndone", {}),
    ("whitespace", "{% for i in range(3) -%}\n  {{ i }}\n{%- endfor %}", {}),
    ("whitespace", "\t{% if true %}x{% endif %}\n x {% if true %}y{% endif %}", {}),
    ("whitespace", "{%- if true %}\n\n  {%- set x = 1 %}\n{%- endif %}\n{{ x }}|{{- '  a  ' -}}  ", {}),
    ("whitespace", "{{ 'a' }}\n{{ 'b' }}\n{% if true %}\n{{ 'c' }}\n{% endif %}\n", {}),
    # lexing corners: tag ends inside strings and dicts, Unicode whitespace, macro bodies
    ("lexing", "{{ '}}' }}|{% set x = '%}' %}{{ x }}|{{ {'a': {'b': 1}} }}|{{ \"{{\" }}|{# '#}' #}x", {}),
    ("lexing", "a {%- if true -%} b {%- endif -%} c|{%- if true -%}\n\nx\n\n{%- endif -%}|", {}),
    ("lexing", "x\u3000{%- if true %}y{% endif %}\u3000z|x {{- '\u3000y' -}} \u3000z", {}),
    ("lexing", "{% if true %}\u3000x{% endif %}\n\u3000{% if true %}y{% endif %}", {}),
    ("lexing", "{% macro m() -%}\n  body\n{%- endmacro %}[{{ m() }}]\n  {% macro n() %}\n  body\n  {% endmacro %}\n[{{ n() }}]", {}),
    ("lexing", "{% for x in [1,2] -%}\n {{ x }} \n{%- endfor %}|text \n   {#- comment -#}\n  more", {}),
    ("lexing", "{{ x|default('y') }}{{ x | default ( 'z' ) }}{{x|d}}|{{ 1.5e3 }}{{ 1E3 }}|{{ [1,2,3].1 }}{{ [[1,2]].0.1 }}", {}),
    ("lexing", "{{ 10 is divisibleby 3 }}{{ 'a' is string and 1 is number }}{{ not 'a' is string }}{{ - 3 }}{{ -(-3) }}{{ 2 * -3 }}{{ -3 | abs }}", {}),
    ("lexing", "{{ 'abc' ~ 1 + 2 }}|{{ 1 ~ 2 * 3 }}|{{ 'x' if true else 'y' | upper }}|{{ ('x' if false else 'y') | upper }}|{{ [1,2] | first + 10 }}", {}),
    ("lexing", "{{ not true and false }}{{ not (true and false) }}{{ true or false and false }}{{ 1 in [1] == true }}{{ 'a' < 'b' == true }}", {}),
    ("lexing", "{{ '%.3f' | format(3.14159) }} {{ '%5s|%-5s|' % ('a', 'b') }} {{ '%+d %05.1f %x %o %e' % (5, 2.25, 255, 8, 12345.678) }}", {}),
    # literals and printing Python values
    ("literals", "{{ 1 }} {{ -1 }} {{ 1.5 }} {{ 1e3 }} {{ 1_000 }} {{ 0x1F }} {{ 0b101 }} {{ 0o17 }} {{ 2.5e-5 }} {{ 1e100 }}", {}),
    ("literals", "{{ true }} {{ True }} {{ none }} {{ None }} {{ false }} {{ 123456789012345678901234567890 }}", {}),
    ("literals", "{{ [1, 'a', none, true, 1.0, [2], {'k': 'v'}] }}", {}),
    ("literals", "{{ {'a': 1, 'b': \"it's\", 'c': 'say \"hi\"', 'd': \"both ' \\\"\"} }}", {}),
    ("literals", "{{ (1, 2) }} {{ (1,) }} {{ () }} {{ 1, 2 }}", {}),
    ("literals", "{{ 'a\\nb\\t\\\\c\\'d\\\"e\\x41\\u00e9\\U0001F600\\101\\q' }}", {}),
    ("literals", "{{ \"adjacent\" 'strings' }} {{ ['\\n', '\\x00', '\\x7f', '\\u00a0', 'é', '\\u200b'] }}", {}),
    ("literals", "{{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 1e16 }} {{ 1e15 }} {{ 100.0 }} {{ 1e-5 }} {{ 0.0001 }} {{ -0.0 }} {{ 5e-324 }}", {}),
    ("literals", "{{ x }} {{ y }} {{ z }}", {"x": {"a": [1, 2.0, None, True, "s"]}, "y": 1.5e300, "z": 10 ** 25}),
    # operators
    ("operators", "{{ 10 / 4 }} {{ 10 // 4 }} {{ -10 // 4 }} {{ 10 % 3 }} {{ -10 % 3 }} {{ 2 ** 10 }} {{ 2 ** -2 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}", {}),
    ("operators", "{{ 1 + 2 * 3 - 4 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ not 1 == 2 }}", {}),
    ("operators", "{{ 'a' ~ 1 ~ none ~ true ~ [1] ~ missing }}", {}),
    ("operators", "{{ 'ab' * 3 }} {{ 3 * 'ab' }} {{ [1] * 3 }} {{ 'x' * 0 }} {{ 'x' * -1 }} {{ 'a' + 'b' }} {{ [1] + [2, 3] }} {{ (1,) + (2,) }}", {}),
    ("operators", "{{ 3 == 3.0 }} {{ true == 1 }} {{ [1,2] == [1,2] }} {{ (1,2) == [1,2] }} {{ {'a':1} == {'a':1.0} }} {{ none == none }}", {}),
    ("operators", "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 <= 1.0 }} {{ 'é' > 'z' }}", {}),
    ("operators", "{{ 'b' in 'abc' }} {{ 'z' not in 'abc' }} {{ 1 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 'a' in missing }}", {}),
    ("operators", "{{ 1 and 2 }} {{ 0 and 2 }} {{ 0 or 'x' }} {{ '' or none }} {{ none or [] }}", {}),
    ("operators", "{{ 'yes' if 1 else 'no' }} {{ 'yes' if 0 else 'no' }} [{{ 'yes' if 0 }}] {{ 1 if 0 else 2 if 0 else 3 }}", {}),
    ("operators", "{{ 'a' + 1 }}", {}),
    ("operators", "{{ 1 / 0 }}", {}),
    ("operators", "{{ 'abc' < 1 }}", {}),
    ("operators", "{{ 1 in 'abc' }}", {}),
    ("operators", "{{ 'x' * 'y' }}", {}),
    # undefined
    ("undefined", "{{ missing }}|{{ missing is defined }}|{{ missing is undefined }}|{{ missing | default('d') }}", {}),
    ("undefined", "{% for x in missing %}x{% else %}empty{% endfor %}{{ missing | length }}{{ missing | list }}{{ missing | join(',') }}[{{ missing | trim }}]", {}),
    ("undefined", "{{ missing == missing }} {{ missing != 1 }} {{ not missing }} {% if missing %}t{% else %}f{% endif %}", {}),
    ("undefined", "{{ {}.missing }}|{{ {}.missing is defined }}|{{ [1][5] is defined }}|{{ none.x is defined }}|{{ 'abc'.nope is defined }}", {}),
    ("undefined", "{{ m.reasoning_content is defined }} {{ m.content is none }} {{ m.tool_calls | default([]) | length }}", {"m": {"role": "assistant", "content": None}}),
    ("undefined", "{{ missing.attr }}", {}),
    ("undefined", "{{ missing['k'] }}", {}),
    ("undefined", "{{ missing + 1 }}", {}),
    ("undefined", "{{ {}.missing.deeper }}", {}),
    ("undefined", "{{ missing | tojson }}", {}),
    ("undefined", "{{ missing | int }}", {}),
    # loops
    ("loops", "{% for x in [1,2,3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}", {}),
    ("loops", "{% for x in 'abc' %}[{{ loop.previtem }}{{ x }}{{ loop.nextitem }}]{% endfor %}", {}),
    ("loops", "{% for x in [1,2,3,4,5] if x is odd %}{{ x }}{{ loop.index }}{{ loop.last }},{% endfor %}", {}),
    ("loops", "{% for x in [] %}a{% else %}empty{% endfor %}{% for x in [1] if false %}a{% else %}filtered-empty{% endfor %}", {}),
    ("loops", "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}", {}),
    ("loops", "{% for a, b in [[1, 2], [3, 4]] %}{{ a }}{{ b }}{% endfor %}{% for (a, b), c in [((1, 2), 3)] %}{{ a }}{{ b }}{{ c }}{% endfor %}", {}),
    ("loops", "{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("loops", "{% for x in [1,2] %}{% for y in 'ab' %}{{ loop.index }}{{ x }}{{ y }}{% endfor %}{{ loop.index }}{% endfor %}", {}),
    ("loops", "{% for x in [1,2,3] %}{{ loop.cycle('odd', 'even') }}{% endfor %}{% for x in [1,1,2,2,3] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}", {}),
    ("loops", "{% for item in tree recursive %}{{ loop.depth }}{{ item.n }}({{ loop(item.c) }}){% endfor %}",
     {"tree": [{"n": "a", "c": [{"n": "b", "c": []}, {"n": "c", "c": [{"n": "d", "c": []}]}]}]}),
    ("loops", "{% for i in range(5) %}{{ i }}{% endfor %}{% for i in range(2, 10, 3) %}{{ i }}{% endfor %}{% for i in range(5, 0, -2) %}{{ i }}{% endfor %}{{ range(3) | list }}", {}),
    ("loops", "{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.content }}{% if not loop.last %}, {% endif %}{% endfor %}", {"messages": MESSAGES}),
    ("loops", "{% for x in none %}{% endfor %}", {}),
    ("loops", "{% for a, b in [[1,2,3]] %}{% endfor %}", {}),
    ("loops", "{{ range(100001) | length }}", {}),
    # scoping, set, namespace, with, filter blocks
    ("scoping", "{% set x = 1 %}{% for i in [1,2] %}{{ x }}{% set x = x + 10 %}{{ x }};{% endfor %}{{ x }}", {}),
    ("scoping", "{% for i in [1,2] %}{% if i == 2 %}{{ y }}{% endif %}{% set y = i %}{% endfor %}|{{ y }}", {}),
    ("scoping", "{% set a = 1 %}{% if true %}{% set a = 2 %}{% endif %}{{ a }}{% set b, c = 1, 2 %}{{ b }}{{ c }}", {}),
    ("scoping", "{% set ns = namespace(x=1, found=false) %}{% for i in [1,2] %}{% set ns.x = ns.x + i %}{% set ns.found = true %}{% endfor %}{{ ns.x }} {{ ns.found }} {{ ns }}", {}),
    ("scoping", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}[{{ ns.c }}]{{ ns['a'] }}", {}),
    ("scoping", "{% set s %}  block {{ 1 + 1 }}  {% endset %}[{{ s }}]{% set t | upper | trim %}  block  {% endset %}[{{ t }}]", {}),
    ("scoping", "{% with a = 1, b = 2 %}{{ a + b }}{% set c = 3 %}{% endwith %}[{{ a }}{{ c }}]", {}),
    ("scoping", "{% set a = 5 %}{% with a = 1, b = a %}{{ a }}{{ b }}{% endwith %}{{ a }}", {}),
    ("scoping", "{% macro m() %}{{ caller() }}{% endmacro %}{% set v = 3 %}{% call m() %}{{ v }}{% set w = 1 %}{% endcall %}[{{ w }}]", {}),
    ("scoping", "{% filter upper %}hello {{ 'world' }}{% endfilter %}{% filter replace('a', 'b') | upper %}banana{% endfilter %}", {}),
    ("scoping", "{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}", {}),
    ("scoping", "{% set x = 5 %}{% set x.y = 1 %}", {}),
    # macros and call blocks
    ("macros", "{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Bob') }} {{ greet('Al', greeting='Hi') }} {{ greet(name='X') }}", {}),
    ("macros", "{% macro m(a, b=a*2) %}{{a}},{{b}},{{varargs}},{{kwargs}}{% endmacro %}{{ m(1) }}|{{ m(1,2,3,k=4) }}", {}),
    ("macros", "{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }}{{ m }}{{ m.name }}{{ m is callable }}", {}),
    ("macros", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1) | int }}{% endif %}{% endmacro %}{{ fact(10) }}", {}),
    ("macros", "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inner {{ 1 }}{% endcall %}", {}),
    ("macros", "{% macro wrap() %}<{{ caller('x', 2) }}>{% endmacro %}{% call(a, b) wrap() %}{{ a }}{{ b }}{% endcall %}", {}),
    ("macros", "{% set x = 1 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 2 %}{{ m() }}{% macro n() %}{% set inner = 1 %}{% endmacro %}{{ n() }}[{{ inner }}]", {}),
    ("macros", "{% macro render(v) %}{% if v is mapping %}{ {% for k, x in v.items() %}{{ k }}: {{ render(x) }}{% if not loop.last %}, {% endif %}{% endfor %} }{% elif v is sequence and v is not string %}[{% for x in v %}{{ render(x) }}{% endfor %}]{% else %}{{ v }}{% endif %}{% endmacro %}{{ render({'a': [1, {'b': 2}], 'c': 'd'}) }}", {}),
    ("macros", "{% macro m(a) %}{{a}}{% endmacro %}{{ m(1, 2) }}", {}),
    ("macros", "{% macro m(a) %}{{a}}{% endmacro %}{{ m(z=2) }}", {}),
    # filters
    ("filters", "{{ '  a b  ' | trim }}|{{ 'xxaxx' | trim('x') }}|{{ 'hello world-foo(bar) [baz]' | title }}|{{ \"they're\" | title }}|{{ 'hELLO wORLD' | capitalize }}|{{ 'ÀÉÎ' | lower }}|{{ 'straße' | upper }}", {}),
    ("filters", "{{ 'aaa' | replace('a', 'b', 2) }}|{{ 'abc' | replace('', '-') }}|{{ [1,2,3] | length }} {{ 'héllo' | length }} {{ {'a':1} | count }}", {}),
    ("filters", "{{ [3,1,2] | sort }} {{ [3,1,2] | sort(reverse=true) }} {{ ['b','A','a','B'] | sort }} {{ ['b','A','a','B'] | sort(case_sensitive=true) }}", {}),
    ("filters", "{{ [{'n': 'b', 'a': 2}, {'n': 'a', 'a': 1}] | sort(attribute='n') }} {{ [{'n': 'b', 'a': 2}, {'n': 'a', 'a': 2}] | sort(attribute='a,n') | map(attribute='n') | list }}", {}),
    ("filters", "{{ [1,2,2,3,1] | unique | list }} {{ ['a','A','b'] | unique | list }} {{ [1,2,3] | join(', ') }} {{ [{'n':'a'},{'n':'b'}] | join('|', attribute='n') }}", {}),
    ("filters", "{{ [1,2,3] | first }} {{ [1,2,3] | last }} {{ 'abc' | first }} [{{ [] | first }}] {{ [1,2,3] | reverse | list }} {{ 'abc' | reverse }}", {}),
    ("filters", "{{ [1,2] | map('string') | list }} {{ ['a','b'] | map('upper') | join }} {{ [{'x':1},{'y':2}] | map(attribute='x') | list }} {{ [{'x':1},{'y':2}] | map(attribute='x', default=0) | list }}", {}),
    ("filters", "{{ [1,2,3,4] | select('odd') | list }} {{ [1,2,3,4] | reject('odd') | list }} {{ [0,1,'',none,'a'] | select | list }} {{ [1,5,10] | select('>', 3) | list }}", {}),
    ("filters", "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} {{ messages | rejectattr('role', 'in', ['user', 'system']) | list | length }}", {"messages": MESSAGES}),
    ("filters", "{% if [] | selectattr('x') %}generator-is-true{% endif %}|{% if [] | selectattr('x') | list %}x{% else %}empty-list-is-false{% endif %}", {}),
    ("filters", "{{ {'b': 1, 'a': 2} | dictsort }} {{ {'b': 1, 'a': 2} | dictsort(by='value') }} {{ {'a': 1} | items | list }}", {}),
    ("filters", "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ '0x1A' | int(base=16) }} {{ 3.9 | int }} {{ '1.5' | float }} {{ 'x' | float }} {{ 2 | float }}", {}),
    ("filters", "{{ -3 | abs }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 42.55 | round(1, 'floor') }} {{ 42.51 | round(1, 'ceil') }} {{ 5 | round }}", {}),
    ("filters", "{{ none | default('x') }} {{ '' | default('x') }} {{ '' | default('x', true) }} {{ 0 | d('z', boolean=true) }}", {}),
    ("filters", "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'a\\nb' | indent('> ') }}", {}),
    ("filters", "{{ 'abc' | center(9) }}|{{ 'abcdefghij klmnop' | truncate(10) }}|{{ 'one two  three' | wordcount }}|{{ '<b>x</b>  &amp; y' | striptags }}|{{ '<a href=\"x\">&\\'' | escape }}", {}),
    ("filters", "{{ '%s=%d' | format('a', 3) }} {{ [1,2,3,4,5] | batch(2) | list }} {{ [1,2,3] | batch(2, 'x') | list }} {{ [1,2,3,4,5] | slice(2) | list }}", {}),
    ("filters", "{{ [1,2,3] | sum }} {{ [{'v': 1}, {'v': 2}] | sum(attribute='v') }} {{ [3,1,2] | max }} {{ [3,1,2] | min }} {{ [{'a':3},{'a':9}] | max(attribute='a') }}", {}),
    ("filters", "{% for g in [{'k': 'a', 'v': 1}, {'k': 'b', 'v': 2}, {'k': 'a', 'v': 3}] | groupby('k') %}{{ g[0] }}={{ g[1] | map(attribute='v') | list }};{% endfor %}", {}),
    ("filters", "{{ 3 | string }} {{ none | string }} {{ 'a' | list }} {{ {'a': 1} | list }} {{ 'x' | safe }} {{ [1, [2]] | pprint }}", {}),
    ("filters", "{{ [1, 'a'] | sort }}", {}),
    ("filters", "{{ [1,2] | nope }}", {}),
    ("filters", "{% if false %}{{ x | nope }}{% endif %}ok", {}),
    # tojson (HF's: json.dumps with ensure_ascii=False)
    ("tojson", "{{ x | tojson }}", {"x": {"b": 1, "a": [1, 2.5, None, True, "é\n\"\\<>&'\u2028"], "c": {}, "d": []}}),
    ("tojson", "{{ x | tojson(indent=2) }}", {"x": {"b": 1, "a": [1, {"z": []}, {}], "c": "s"}}),
    ("tojson", "{{ x | tojson(indent=4, sort_keys=true) }}|{{ x | tojson(separators=(',', ':')) }}", {"x": {"b": 1, "a": [1]}}),
    ("tojson", "{{ x | tojson(ensure_ascii=true) }} {{ x | tojson(indent='\\t') }}", {"x": ["é😀\u0001", [2]]}),
    ("tojson", "{{ x | tojson }} {{ (1, 'a') | tojson }} {{ 1e-7 | tojson }}", {"x": 12345678901234567890123}),
    ("tojson", "{{ namespace(a=1) | tojson }}", {}),
    # tests
    ("tests", "{{ x is integer }}{{ x is float }}{{ x is number }}{{ y is integer }}{{ y is float }}{{ z is boolean }}{{ z is number }}{{ z is true }}{{ z is false }}", {"x": 1, "y": 1.0, "z": True}),
    ("tests", "{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}{{ 'a' is lower }}{{ 'A' is upper }}{{ 1 is in [1] }}{{ 'a' is equalto 'a' }}{{ 2 is eq 2 }}{{ 2 is gt 1 }}{{ 2 is ge 3 }}{{ none is sameas none }}", {}),
    ("tests", "{{ 'upper' is filter }}{{ 'odd' is test }}{{ range is callable }}{{ x is iterable }}{{ 1 is iterable }}{{ 'a' is sequence }}{{ {} is sequence }}{{ x is mapping }}{{ none is mapping }}{{ missing is sequence }}", {"x": {}}),
    ("tests", "{% for v in values %}{% if v is string %}s{% elif v is mapping %}m{% elif v is sequence %}q{% elif v is number %}n{% elif v is none %}0{% endif %}{% endfor %}", {"values": ["a", {}, [1], 1, 2.5, None, True]}),
    ("tests", "{{ 1 is nope }}", {}),
    # str, dict and list methods
    ("methods", "{{ 'Hello'.startswith('He') }} {{ 'Hello'.endswith(('x', 'lo')) }} {{ 'Hello'.startswith('l', 2) }} {{ 'abc'.upper() }} {{ 'ABC'.lower() }}", {}),
    ("methods", "{{ 'a,b,,c'.split(',') }} {{ '  a  b  '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ '  a  b  c  '.split(None, 1) }} {{ '  a  b  '.rsplit(None, 1) }} {{ ''.split() }}", {}),
    ("methods", "{{ '  x  '.strip() }}|{{ '  x  '.lstrip() }}|{{ '  x  '.rstrip() }}|{{ 'xxhixx'.strip('x') }}|{{ '\\n\\nhi\\n'.strip('\\n') }}|{{ '\\u3000x\\xa0'.strip() }}", {}),
    ("methods", "{{ 'aXbXc'.replace('X', '-') }} {{ 'aaa'.replace('a', 'b', 1) }} {{ 'hello world'.title() }} {{ \"it's o'neil\".title() }} {{ 'AbC'.swapcase() }}", {}),
    ("methods", "{{ 'héllo wörld'.find('w') }} {{ 'abc'.find('z') }} {{ 'abcabc'.rfind('b') }} {{ 'abcabc'.count('b') }} {{ 'a\\nb\\r\\nc\\n'.splitlines() }} {{ 'a\\nb'.splitlines(true) }}", {}),
    ("methods", "{{ ', '.join(['a', 'b']) }} {{ '{} and {}'.format(1, 'two') }} {{ '{0}{1}{0}'.format('a', 'b') }} {{ '{name}!'.format(name='x') }} {{ '{:>5}|{:<5}|{:^5}'.format('a', 'b', 'c') }} {{ '{:.2f} {:05d} {:,}'.format(3.14159, 42, 1234567) }}", {}),
    ("methods", "{{ '42'.isdigit() }} {{ 'abc'.isalpha() }} {{ '  '.isspace() }} {{ '5'.zfill(3) }} {{ 'ab'.center(7, '*') }} {{ 'a=b=c'.partition('=') }} {{ 'prefix_x'.removeprefix('prefix_') }}", {}),
    ("methods", "{{ '%s-%d-%05.2f|%r|%x' % ('a', 3, 2.5, 'x', 255) }} {{ '%(k)s' % {'k': 'v'} }} {{ '%%' % () }}", {}),
    ("methods", "{{ 'abc'[0] }} {{ 'abc'[-1] }} {{ 'héllo'[1] }} {{ 'abcdef'[1:4] }} {{ 'abcdef'[::2] }} {{ 'abcdef'[::-1] }} {{ 'héllo'[1:3] }} [{{ 'abc'[10] }}]", {}),
    ("methods", "{{ [1,2,3,4,5][1:3] }} {{ [1,2,3,4,5][-2:] }} {{ [1,2,3,4,5][::-2] }} {{ [1,2,3][:-1] }} {{ (1,2,3)[1:] }} {{ messages[1:] | length }} {{ messages[-1].content }}", {"messages": MESSAGES}),
    ("methods", "{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b') }} {{ {'a': 1}.get('b', 'dflt') }} {{ {'a': 1, 'b': 2}.keys() | list }} {{ {'a': 1}.values() | list }} {{ {'a': 1}.items() | list }}", {}),
    ("methods", "{{ {'items': 3}['items'] }} {{ d.items | list if false else d['items'] }} {{ {'a': {'b': [10, 20]}}.a.b.1 }} {{ [1,2,1].count(1) }} {{ [1,2,3].index(2) }}", {"d": {"items": 7}}),
    ("methods", "{{ [1].append(2) }}", {}),
    ("methods", "{{ {'a': 1}.update({'b': 2}) }}", {}),
    ("methods", "{{ 'ab'.startswith(1) }}", {}),
    # globals
    ("globals", "{{ dict(a=1, b=2) }} {{ dict({'x': 1}, y=2) }} {{ dict([['p', 1]]) }} {{ namespace(a=1).a }}", {}),
    ("globals", "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}{% set j = joiner('|') %}{{ j() }}x{{ j() }}y{{ j() }}", {}),
    ("globals", "{{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %d %b %j %p %I %y') }}|{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%-d') }}|{{ strftime_now('%f%z%Z%%') }}", {}),
    ("globals", "{{ raise_exception('Boom: ' ~ 42) }}", {}),
    ("globals", "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation must start with a user message') }}{% endif %}", {"messages": MESSAGES}),
    ("globals", "{% generation %}gen {{ 1 }}{% endgeneration %}", {}),
    ("globals", "{{ lipsum is defined }} {{ cycler is callable }} {{ strftime_now is defined }} {{ raise_exception is defined }}", {}),
    ("globals", "{%- if not date_string is defined %}{%- if strftime_now is defined %}{%- set date_string = strftime_now('%d %b %Y') %}{%- else %}{%- set date_string = '26 Jul 2024' %}{%- endif %}{%- endif %}Today Date: {{ date_string }}", {}),
    # syntax errors
    ("syntax", "{{ 'unterminated }}", {}),
    ("syntax", "{% for %}{% endfor %}", {}),
    ("syntax", "{% endfor %}", {}),
    ("syntax", "{% if x %}", {}),
    ("syntax", "{# unterminated", {}),
    ("syntax", "{{ (1 }}", {}),
    ("syntax", "{% break %}", {}),
    ("syntax", "{{ x | }}", {}),
]

# Conversations rendered through each golden template, beyond the ones in cases.jsonl.
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Get the weather for a city, in °C.",
                                      "parameters": {"type": "object",
                                                     "properties": {"city": {"type": "string", "description": "City name"},
                                                                    "unit": {"type": "string", "enum": ["c", "f"]}},
                                                     "required": ["city"]}}},
    {"type": "function", "function": {"name": "search", "description": "Search \"the web\"",
                                      "parameters": {"type": "object",
                                                     "properties": {"q": {"type": "string"}, "n": {"type": "integer", "default": 3}}}}},
]

CONVERSATIONS = [
    dict(messages=[{"role": "user", "content": "Hello!"}], add_generation_prompt=True),
    dict(messages=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi  "},
                   {"role": "assistant", "content": "Hey."}, {"role": "user", "content": "Weather? 😀 ünïcode\n\nlines"}],
         add_generation_prompt=True),
    dict(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], add_generation_prompt=False),
    dict(messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "What's the weather in Paris?"},
                   {"role": "assistant", "content": "", "tool_calls": [
                       {"id": "call_123456789", "type": "function",
                        "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}}]},
                   {"role": "tool", "tool_call_id": "call_123456789", "name": "get_weather", "content": "{\"temp\": 21}"},
                   {"role": "assistant", "content": "It is 21 °C."}, {"role": "user", "content": "thanks"}],
         tools=TOOLS, add_generation_prompt=True),
    dict(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>\nreasoning here\n</think>\n\nanswer"},
                   {"role": "user", "content": "more"}], add_generation_prompt=True, enable_thinking=False),
    dict(messages=[{"role": "user", "content": [{"type": "text", "text": "Describe"}, {"type": "image"}, {"type": "text", "text": " this"}]}],
         add_generation_prompt=True),
    dict(messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "reasoning_content": "because"},
                   {"role": "user", "content": "z"}], add_generation_prompt=True, enable_thinking=True),
    dict(messages=[{"role": "user", "content": "only tools"}], tools=TOOLS, add_generation_prompt=True),
    dict(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], add_generation_prompt=True),
]


def main():
    cases = []
    counters = {}
    for group, template, variables in FEATURES:
        index = counters.get(group, 0)
        counters[group] = index + 1
        case = {"template_name": "feature_" + group, "case": index, "template": template, "variables": variables}
        case.update(render(template, variables))
        cases.append(case)
    with open(GOLDEN, encoding="utf-8") as f:
        golden = [json.loads(line) for line in f if line.strip()]
    templates = {}
    for g in golden:
        templates.setdefault(g["template_name"], (g["template"], g["special_tokens"]))
    for name, (template, special_tokens) in templates.items():
        for index, conversation in enumerate(CONVERSATIONS):
            variables = dict(special_tokens)
            variables.update({"tools": None, "documents": None})
            variables.update(conversation)
            case = {"template_name": name + "_more", "case": index, "template": template, "variables": variables}
            case.update(render(template, variables))
            cases.append(case)
    with open(OUT, "w", encoding="utf-8") as f:
        for case in cases:
            f.write(json.dumps(case, ensure_ascii=False) + "\n")
    errors = sum(1 for c in cases if "error" in c)
    print(f"wrote {len(cases)} cases ({errors} expected errors) to {os.path.relpath(OUT, ROOT)} with jinja2 {jinja2.__version__}")


if __name__ == "__main__":
    sys.exit(main())
