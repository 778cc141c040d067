#!/usr/bin/env python3
"""The text-gen-tokenize command-line contract, checked against the HF reference data.

Usage: tokenize_cli_test.py PATH/TO/text-gen-tokenize ASSETS_DIR
"""
import json, os, subprocess, sys, tempfile


def run(tool, args, stdin):
    p = subprocess.run([tool] + args, input=stdin.encode("utf-8"), capture_output=True)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8")


def main():
    tool, assets = sys.argv[1], sys.argv[2]
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    # encode/decode for a tokenizer.json path, a directory holding one, and a .gguf file.
    sources = [("llama2", os.path.join(assets, "tokenizers/llama2/tokenizer.json")),
               ("qwen3", os.path.join(assets, "tokenizers/qwen3")),
               ("stories260K", os.path.join(assets, "models/stories260K/stories260K.gguf"))]
    for name, path in sources:
        rows = [json.loads(line) for line in open(os.path.join(assets, "reference", f"tok-public-{name}.jsonl"), encoding="utf-8")]
        for row in rows[:4]:
            flags = ["--add-special-tokens"] if row["add_special_tokens"] else []
            rc, out, err = run(tool, ["encode", "--tokenizer", path] + flags, row["text"])
            check(rc == 0 and json.loads(out) == row["ids"], f"encode {name} {row['text']!r}: {rc} {out} {err}")
            rc, out, err = run(tool, ["decode", "--tokenizer", path], json.dumps(row["ids"]))
            check(rc == 0 and out == row["decoded"], f"decode {name} {row['text']!r}: {out!r} {err}")

    # --skip-special-tokens drops BOS; nothing is added to the output.
    rc, out, _ = run(tool, ["decode", "--tokenizer", sources[0][1], "--skip-special-tokens"], "[1, 22557, 1526]")
    check(rc == 0 and out == "Hello world", f"skip special: {out!r}")

    # render-chat, with a template that raises: exit 3 and the template's message on stderr.
    with tempfile.TemporaryDirectory() as tmp:
        template = os.path.join(tmp, "t.jinja")
        open(template, "w").write("{% if messages[0].role == 'system' %}{{ raise_exception('no system') }}"
                                  "{% endif %}{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}"
                                  "{{ eos_token }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}")
        rc, out, _ = run(tool, ["render-chat", "--template", template, "--add-generation-prompt",
                                "--bos-token", "<s>", "--eos-token", "</s>"],
                         json.dumps([{"role": "user", "content": "hi"}]))
        check(rc == 0 and out == "<s>[user]hi</s>[assistant]", f"render-chat: {rc} {out!r}")
        rc, out, err = run(tool, ["render-chat", "--template", template],
                           json.dumps([{"role": "system", "content": "x"}]))
        check(rc == 3 and out == "" and "no system" in err, f"raise: {rc} {out!r} {err!r}")

    # Usage errors are not silent.
    rc, _, err = run(tool, ["encode"], "x")
    check(rc != 0 and "usage" in err, "usage error")
    rc, _, err = run(tool, ["encode", "--tokenizer", "/nonexistent"], "x")
    check(rc != 0 and err, "missing tokenizer")

    for f in failures:
        print("FAIL", f)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
