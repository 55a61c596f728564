#!/usr/bin/env python3
"""Train the stand-in SentencePiece vocabulary with the upstream Needle v1 trainer options
(docs/ARCHITECTURE.md#tokenizer) and export it in the published vocab.txt format (docs/FORMATS.md#vocabtxt).

Usage: python3 tools/train_vocab.py [--corpus PATH] [--out-dir DIR]

Without --corpus the corpus is generated with tools/make_corpus.py into target/vocab-corpus.txt
(not committed). Writes DIR/stand-in.model and DIR/vocab.txt (default DIR: tests/fixtures/vocab).
Requires the `sentencepiece` package (0.2.x). num_threads=1 makes the result deterministic.
"""

import argparse
import os
import shutil
import sys

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import make_corpus  # noqa: E402

SPECIALS = ["<pad>", "</s>", "<s>", "<unk>", "<tool_call>", "<tools>"]


def train(corpus: str, prefix: str) -> None:
    # The model file records the input path and model_prefix, so train from ROOT with fixed
    # relative paths: the .model bytes then depend only on the corpus content.
    fixed = os.path.join(ROOT, "target", "vocab-corpus.txt")
    if os.path.abspath(corpus) != fixed:
        os.makedirs(os.path.dirname(fixed), exist_ok=True)
        shutil.copyfile(corpus, fixed)
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        _train("target/vocab-corpus.txt", "target/stand-in")
    finally:
        os.chdir(cwd)
    shutil.copyfile(os.path.join(ROOT, "target", "stand-in.model"), prefix + ".model")


def _train(corpus: str, prefix: str) -> None:
    spm.SentencePieceTrainer.train(
        input=corpus,
        model_prefix=prefix,
        model_type="bpe",
        vocab_size=8192,
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        user_defined_symbols=["<tool_call>", "<tools>"],
        byte_fallback=True,
        normalization_rule_name="identity",
        num_threads=1,
        minloglevel=2,
    )


def export_vocab(sp, path: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for i in range(sp.GetPieceSize()):
            f.write(sp.IdToPiece(i) + "\t" + str(sp.GetScore(i)) + "\n")


def check(sp, vocab_path: str) -> None:
    n = sp.GetPieceSize()
    assert n == 8192, n
    for i, p in enumerate(SPECIALS):
        assert sp.IdToPiece(i) == p, (i, sp.IdToPiece(i))
    for b in range(256):
        assert sp.IdToPiece(6 + b) == "<0x%02X>" % b, (6 + b, sp.IdToPiece(6 + b))
    with open(vocab_path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    assert lines[-1] == "" and len(lines) == 8193, len(lines)
    for i, line in enumerate(lines[:-1]):
        piece, score = line.split("\t")
        assert piece == sp.IdToPiece(i) and float(score) == sp.GetScore(i), i
        assert "\r" not in piece
        if i >= 262:
            assert float(score) == -(i - 262), (i, score)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "fixtures", "vocab"))
    a = ap.parse_args()
    corpus = a.corpus
    if not corpus:
        os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
        corpus = os.path.join(ROOT, "target", "vocab-corpus.txt")
        make_corpus.main(["make_corpus.py", corpus])
    os.makedirs(a.out_dir, exist_ok=True)
    prefix = os.path.join(a.out_dir, "stand-in")
    train(corpus, prefix)
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    vocab_path = os.path.join(a.out_dir, "vocab.txt")
    export_vocab(sp, vocab_path)
    check(sp, vocab_path)
    print(f"vocab: {sp.GetPieceSize()} pieces -> {vocab_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
