#!/usr/bin/env python3
"""Chat-template fixtures: llama.cpp's models/templates/*.jinja (from the llama_cpp_python
sdist on PyPI, unpacked by Tools/fetch-pretrained.sh, never committed), each rendered on six conversations
by jinja2 configured exactly as transformers configures it for apply_chat_template
(transformers.utils.chat_template_utils._compile_jinja_template: ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loopcontrols, its tojson, raise_exception, dict and namespace),
with strftime_now fixed to 2024-07-26 so the outputs stay the same.

    /opt/cortex-reference/bin/python Tools/make_chat_template_fixtures.py [TEMPLATES_DIR]

Writes Tests/CortexTextTests/Fixtures/chat-templates.json: per template its text and, per
conversation, the rendered prompt or the message of the exception the template raised.
"""
import datetime
import glob
import json
import os
import sys

from transformers.utils.chat_template_utils import _cached_compile_jinja_template

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests/CortexTextTests/Fixtures/chat-templates.json")
NOW = datetime.datetime(2024, 7, 26, 9, 30, 0)


def templates_dir():
    if len(sys.argv) > 1:
        return sys.argv[1]
    root = os.environ.get("CORTEX_PRETRAINED_DIR", os.path.expanduser("~/.cache/cortex/pretrained"))
    directory = os.path.join(root, "llama-cpp-suite/models/templates")
    if not os.path.isdir(directory):
        sys.exit(f"no {directory}: run Tools/fetch-pretrained.sh first (it unpacks llama.cpp's templates from the llama_cpp_python sdist)")
    return directory


TOOLS = [{"type": "function", "function": {
    "name": "get_weather",
    "description": "Get the current weather in a city",
    "parameters": {"type": "object",
                   "properties": {"city": {"type": "string", "description": "The city"},
                                  "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city"]}}}]

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}


def conversations(takes_tools):
    cases = [
        ("system and user", [SYSTEM, {"role": "user", "content": "What is the capital of France?"}], True, None),
        ("multi-turn", [SYSTEM, {"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi! How can I help?"},
                        {"role": "user", "content": "Tell me a joke."}], True, None),
        ("assistant last", [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi there."}], False, None),
        ("assistant last, generation prompt", [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi there."}], True, None),
        ("non-ASCII", [{"role": "user", "content": "Quelle est la capitale de la France ? 日本語で答えて 🚀"},
                       {"role": "assistant", "content": "Paris — 東京ではありません."}, {"role": "user", "content": "Merci ! ¿Y España?"}], True, None),
    ]
    if takes_tools:
        call = {"type": "function", "id": "call_1", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}
        cases.append(("tool call and result", [
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temperature\": 21, \"unit\": \"celsius\"}"},
        ], True, TOOLS))
    return cases


def main():
    directory = templates_dir()
    fixtures = []
    for path in sorted(glob.glob(os.path.join(directory, "*.jinja"))):
        source = open(path, encoding="utf-8").read()
        template = _cached_compile_jinja_template(source)
        template.globals["strftime_now"] = lambda fmt: NOW.strftime(fmt)
        cases = []
        for title, messages, generation_prompt, tools in conversations("tools" in source):
            variables = {"messages": messages, "add_generation_prompt": generation_prompt, "bos_token": "<s>", "eos_token": "</s>"}
            if tools is not None:
                variables["tools"] = tools
            case = {"title": title, "variables": variables}
            try:
                case["expected"] = template.render(**variables)
            except Exception as error:  # the template's raise_exception, or jinja2's own error
                case["raised" if type(error).__name__ == "TemplateError" else "error"] = str(error)
            cases.append(case)
        fixtures.append({"name": os.path.basename(path)[:-len(".jinja")], "template": source, "cases": cases})
    with open(OUT, "w", encoding="utf-8") as file:
        json.dump({"now": NOW.isoformat(), "templates": fixtures}, file, ensure_ascii=False, indent=1)
        file.write("\n")
    print(f"{len(fixtures)} templates, {sum(len(f['cases']) for f in fixtures)} conversations -> {OUT}")


if __name__ == "__main__":
    main()
