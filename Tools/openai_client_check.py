#!/usr/bin/env python3
"""Drives `cortex serve` with OpenAI's official Python client (pip install openai, in a venv
outside the repository): completions and chat, streamed and not, embeddings, and error cases.
Prints what it got; exits non-zero when something is not as the client expects.

    cortex serve --model smollm2 --embedding-model all-minilm-l6-v2 --port 8080 &
    python Tools/openai_client_check.py --base-url http://127.0.0.1:8080/v1
"""
import argparse
import sys

import openai


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", default="http://127.0.0.1:8080/v1")
    parser.add_argument("--api-key", default="none")
    args = parser.parse_args()
    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key)
    failures = []

    def check(condition, what):
        print(("ok   " if condition else "FAIL ") + what)
        if not condition:
            failures.append(what)

    models = client.models.list()
    names = [m.id for m in models.data]
    print("models:", names)
    model, embedding_model = names[0], names[1] if len(names) > 1 else None

    completion = client.completions.create(model=model, prompt="The capital of France is", max_tokens=12, temperature=0)
    print("completion:", repr(completion.choices[0].text), completion.choices[0].finish_reason, completion.usage)
    check(completion.object == "text_completion" and completion.usage.completion_tokens > 0, "completions")

    texts = []
    for chunk in client.completions.create(model=model, prompt="Once upon a time", max_tokens=16, temperature=0, stream=True):
        if chunk.choices:
            texts.append(chunk.choices[0].text)
    print("streamed completion:", repr("".join(texts)))
    check(len(texts) > 1, "streamed completions")

    chat = client.chat.completions.create(model=model, messages=[{"role": "system", "content": "You are a helpful assistant."},
                                                                 {"role": "user", "content": "What is the capital of France?"}],
                                          max_tokens=32, temperature=0, seed=1)
    answer = chat.choices[0].message.content
    print("chat:", repr(answer), chat.choices[0].finish_reason, chat.usage)
    check(chat.choices[0].message.role == "assistant" and "Paris" in answer, "chat names Paris")

    pieces, usage, roles = [], None, []
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Name three colours."}], max_tokens=32,
                                            temperature=0, stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.role:
                roles.append(choice.delta.role)
            if choice.delta.content:
                pieces.append(choice.delta.content)
    print("streamed chat:", repr("".join(pieces)), usage)
    check(roles == ["assistant"] and usage is not None and usage.completion_tokens > 0, "streamed chat with role and usage")

    logprobs = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=3, temperature=0,
                                              logprobs=True, top_logprobs=2)
    entries = logprobs.choices[0].logprobs.content
    print("logprobs:", [(e.token, round(e.logprob, 3), [t.token for t in e.top_logprobs]) for e in entries])
    check(len(entries) > 0 and len(entries[0].top_logprobs) == 2, "chat logprobs")

    if embedding_model:
        embeddings = client.embeddings.create(model=embedding_model, input=["A man is eating food.", "A man is eating pasta.", "The sky is blue."])
        vectors = [e.embedding for e in embeddings.data]
        def cosine(a, b):
            return sum(x * y for x, y in zip(a, b)) / (sum(x * x for x in a) ** 0.5 * sum(y * y for y in b) ** 0.5)
        print("embeddings:", len(vectors), "x", len(vectors[0]), "cos(food, pasta) = %.3f, cos(food, sky) = %.3f"
              % (cosine(vectors[0], vectors[1]), cosine(vectors[0], vectors[2])), embeddings.usage)
        check(len(vectors[0]) == 384 and cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]), "embeddings")

    for name, call, expected in [
        ("unknown model", lambda: client.completions.create(model="no-such-model", prompt="x"), openai.NotFoundError),
        ("temperature -1", lambda: client.completions.create(model=model, prompt="x", temperature=-1), openai.BadRequestError),
        ("prompt beyond the context", lambda: client.completions.create(model=model, prompt="x " * 9000, max_tokens=10), openai.BadRequestError),
    ]:
        try:
            call()
            check(False, "error case %s raised nothing" % name)
        except expected as error:
            print("error case %s: %s %s" % (name, error.status_code, error.body))
            check(True, "error case " + name)

    print("all passed" if not failures else "failures: %s" % failures)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
