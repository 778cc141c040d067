#!/usr/bin/env python3
"""Differential test: text-gen-tokenize render-chat against real Jinja2 set up exactly as HF
transformers sets it up (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
its tojson / raise_exception / strftime_now). Each template below exercises a language feature;
each is rendered for several conversations with and without the generation prompt.

Usage: chat_template_jinja_diff_test.py PATH/TO/text-gen-tokenize
Exit 77 (ctest: skipped) when jinja2 is not installed.
"""
import json, os, subprocess, sys, tempfile
from datetime import datetime

try:
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    print("jinja2 not installed: skipping")
    sys.exit(77)


class TemplateError(Exception):
    pass


def make_env():
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "  Hello  "},
     {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nYes."}, {"role": "user", "content": "ünï 你好 \"q\" \\ 'a'"}],
    [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    [{"role": "user", "content": "call", "extra": {"b": [1, 2.5, None, True], "a": "x"}},
     {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1, "y": "z"}}}]},
     {"role": "tool", "content": "42"}],
]

TEMPLATES = {
    "chatml": """{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}""",
    "llama2": """{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}""",
    "whitespace": """
  {% for m in messages %}
    {{ m.role }}:
      {%- if m.content %} {{ m.content }}{% endif %}

    {# a comment #}
    {%+ if loop.last %}last{% endif +%}
  {% endfor %}
{%- if add_generation_prompt -%}
   GEN
{%- endif %}
 {% raw %}{{ not parsed }} {% if %}{% endraw %}
tail
""",
    "loop_vars": """{% for m in messages if m.role != 'system' %}[{{ loop.index }}/{{ loop.length }} {{ loop.index0 }} {{ loop.revindex }} {{ loop.revindex0 }} {{ loop.first }} {{ loop.last }} {{ loop.previtem.role if loop.previtem is defined else '-' }} {{ loop.cycle('odd', 'even') }}]{% else %}empty{% endfor %}""",
    "break_continue": """{% for m in messages %}{% if loop.index0 == 1 %}{% continue %}{% endif %}{{ m.role }}{% if loop.index >= 3 %}{% break %}{% endif %},{% endfor %}""",
    "namespace": """{% set ns = namespace(count=0, last=none, seen=[]) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.count = ns.count + 1 %}{% set ns.last = m.content %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.last }} {{ ns.seen }}""",
    "scoping": """{% set x = 'outer' %}{% for m in messages %}{% set x = m.role %}{{ x }} {% endfor %}{{ x }}{% if true %}{% set y = 'if-set' %}{% endif %} {{ y }}""",
    "macros": """{% macro render(m, prefix='> ', suffix=none) -%}
{{ prefix }}{{ m.role | upper }}: {{ m.content | trim }}{{ suffix if suffix is not none else '' }}
{%- endmacro %}
{% for m in messages %}{{ render(m) }}|{{ render(m, suffix='!') }}|{{ render(m, prefix='* ') }}
{% endfor %}""",
    "call_block": """{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% for m in messages %}{% call wrap(m.role) %}{{ m.content }}{% endcall %}{% endfor %}""",
    "filters": """{{ messages | length }} {{ messages | map(attribute='role') | join(',') }} {{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'eq', 'user') | map(attribute='role') | list }} {{ (messages | first).role }} {{ (messages | last).content | default('none') }} {{ messages | map(attribute='role') | unique | list }} {{ messages | map(attribute='role') | sort | list }} {{ messages | map(attribute='role') | sort(reverse=true) | join }} {{ 'hello world' | title }} {{ 'hELLO' | capitalize }} {{ '  pad  ' | trim }}| {{ 'abc' | replace('b', 'B') }} {{ 'a\\nb\\n\\nc' | indent(2) }} {{ 'a\\nb' | indent(2, true) }} {{ '3' | int + 1 }} {{ '2.5' | float * 2 }} {{ -3 | abs }} {{ 2.567 | round(2) }} {{ 7 | string + 'x' }} {{ [3, 1, 2] | reverse | list }} {{ 'abc' | reverse }} {{ [1, 2, 3] | sum }} {{ [4, 9] | max }} {{ {'b': 1, 'a': 2} | dictsort }} {{ {'b': 1, 'a': 2} | items | list }} {{ none | default('dflt') }} {{ undefined_var | default('dflt') }} {{ '' | default('empty', true) }} {{ 'x' | center(5) }}| {{ '<a href="x">' | e }} {{ 'one two  three' | wordcount }}""",
    "tojson": """{% for m in messages %}{{ m | tojson }}
{{ m | tojson(indent=2) }}
{{ m | tojson(sort_keys=true) }}
{{ m.extra | tojson(separators=(',', ':')) }}
{% endfor %}{{ [1.0, 2.5e-7, 1e20, 123456789.125, -0.0, 100, true, none, 'é\\u2028\\t'] | tojson }}""",
    "repr": """{{ messages[0] }} {{ [1, 'a', "b'c", none, true, 1.5, [2]] }} {{ {'k': ['v']} }} {{ none }} {{ true }} {{ 1.0 }} {{ 10 / 4 }} {{ 10 // 4 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 1e3 }} {{ 0.1 + 0.2 }}""",
    "strings": """{% for m in messages %}{{ m.content.split() }} {{ m.content.split(' ', 1) }} {{ m.content.strip() }}|{{ m.content.lstrip() }}|{{ m.content.rstrip(' ') }}| {{ m.content.startswith(('H', 'a')) }} {{ m.content.endswith('.') }} {{ m.content.upper() }} {{ m.content.lower() }} {{ m.content.replace('e', 'E') }} {{ m.content.find('l') }} {{ m.content.count('l') }} {{ m.content[1:3] }} {{ m.content[::-1] }} {{ m.content[-2:] }} {{ m.content[0] if m.content else '' }} {{ '-'.join(['a', 'b']) }} {{ 'x={} y={}'.format(1, 'z') }} {{ m.content.title() }}
{% endfor %}""",
    "tests": """{% for m in messages %}{{ m.content is string }} {{ m.tool_calls is defined }} {{ m.tool_calls is not defined }} {{ m.nothing is none }} {{ m.extra is mapping }} {{ messages is sequence }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ m.role in ['user', 'tool'] }} {{ 'ser' in m.role }} {{ 'x' not in m }} {{ 'role' in m }} {{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }} {{ true is boolean }} {{ none is none }} {{ m.content is lower }}
{% endfor %}""",
    "conditionals": """{% for m in messages %}{{ 'A' if m.role == 'user' else 'B' }}{{ 'C' if m.role == 'system' }}{% if m.role == 'user' and not m.content %}empty{% elif m.role == 'user' or m.role == 'tool' %}U{% else %}O{% endif %}{{ (m.content or 'none') ~ '|' }}{{ m.role == 'user' and m.content }}{% endfor %}""",
    "tool_calls": """{%- for message in messages %}
    {%- if message.tool_calls %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '<tool_call>\\n{"name": "' }}{{- tool_call.name }}{{- '", "arguments": ' }}
            {%- if tool_call.arguments is string %}{{- tool_call.arguments }}{%- else %}{{- tool_call.arguments | tojson }}{%- endif %}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
    {%- elif message.role == 'tool' %}
        {{- '<tool_response>' + message.content + '</tool_response>' }}
    {%- else %}
        {{- message.role + ': ' + message.content + '\\n' }}
    {%- endif %}
{%- endfor %}""",
    "set_block_unpack": """{% set header %}Roles: {% for m in messages %}{{ m.role }} {% endfor %}{% endset %}{{ header | trim }}|{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% for k, v in {'x': 1, 'y': 2}.items() %}{{ k }}={{ v }};{% endfor %}{% for i in range(3) %}{{ i }}{% endfor %}{% for i in range(1, 7, 2) %}{{ i }}{% endfor %}""",
    "raises": """{% if messages | length > 3 %}{{ raise_exception('too many: ' ~ messages | length) }}{% endif %}ok""",
    "dict_access": """{% for m in messages %}{{ m['role'] }} {{ m.get('content') }} {{ m.get('missing', 'fb') }} {{ m.keys() | list }} {{ m.extra.b[1] if m.extra is defined else '' }} {{ m['extra']['a'] if 'extra' in m else '' }}
{% endfor %}""",
    "filter_block": """{% filter upper %}{% for m in messages %}{{ m.role }} {% endfor %}{% endfilter %}""",
    "concat_math": """{{ 'a' ~ 1 ~ none ~ true }} {{ 1 + 2 * 3 - 4 / 2 }} {{ (1 + 2) * 3 }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ 5 > 3 }} {{ 'a' < 'b' }} {{ [1, 2] == [1, 2] }} {{ not true }} {{ -(-2) }} {{ 1 if none else 2 }}""",
}


def render_reference(env, source, messages, add_gen):
    try:
        return 0, env.from_string(source).render(messages=messages, tools=None, documents=None,
                                                  add_generation_prompt=add_gen,
                                                  bos_token="<s>", eos_token="</s>")
    except TemplateError as e:
        return 3, str(e)
    except Exception as e:  # a render failure that is not the template's own raise
        return 2, None


def main():
    tool = sys.argv[1]
    env = make_env()
    failures = 0
    cases = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, source in TEMPLATES.items():
            path = os.path.join(tmp, name + ".jinja")
            open(path, "w", encoding="utf-8").write(source)
            for ci, messages in enumerate(CONVERSATIONS):
                for add_gen in (False, True):
                    cases += 1
                    want_rc, want = render_reference(env, source, messages, add_gen)
                    cmd = [tool, "render-chat", "--template", path, "--bos-token", "<s>",
                           "--eos-token", "</s>"] + (["--add-generation-prompt"] if add_gen else [])
                    p = subprocess.run(cmd, input=json.dumps(messages).encode(), capture_output=True)
                    got = p.stdout.decode("utf-8") if p.returncode == 0 else p.stderr.decode("utf-8").strip()
                    if p.returncode != want_rc or (want is not None and got != want):
                        failures += 1
                        print(f"FAIL {name} conversation {ci} add_generation_prompt={add_gen}")
                        print(f"  jinja2 ({want_rc}): {want!r}")
                        print(f"  ours   ({p.returncode}): {got!r}")
    print(f"{cases - failures}/{cases} renders identical to jinja2 {jinja2.__version__}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
