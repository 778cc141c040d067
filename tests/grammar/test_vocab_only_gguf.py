"""scripts/gpu/vocab_only_gguf.py (SmolLM2's vocabulary for the GPU mask benchmark, without its
weights): the copy is a small GGUF that text-gen-tokenize reads as the same tokenizer."""
import os
import subprocess
import sys
import tempfile

import pytest

from conftest import smol_gguf

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TOKENIZE_BIN = os.environ.get("TG_TOKENIZE_BIN", "")
TEXT = '{"city": "Saint-Jean-de-Luz", "unit": "celsius"}\n héllo 🙂 <|im_end|> [1, 2]\t\tend'


def encode(tokenizer, text):
    return subprocess.run([TOKENIZE_BIN, "encode", "--tokenizer", tokenizer], input=text.encode(),
                          capture_output=True, check=True).stdout


def test_vocab_only_copy_tokenizes_like_the_model():
    if not TOKENIZE_BIN:
        pytest.skip("TG_TOKENIZE_BIN not set")
    model = smol_gguf()
    with tempfile.TemporaryDirectory() as tmp:
        vocab = os.path.join(tmp, "vocab.gguf")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gpu", "vocab_only_gguf.py"),
                        model, vocab], check=True)
        assert os.path.getsize(vocab) < 4 << 20 < os.path.getsize(model)
        assert encode(vocab, TEXT) == encode(model, TEXT)
