#!/usr/bin/env python3
"""Deterministic (query, tools) cases for the needle-rs / NumPy-reference parity suite.

600 cases: ids 0-399 on `small`, 400-499 on the tiny variants (20 each), 500-559 on `full`,
560-599 on `script` (the scripted model that writes JSON tool calls, so the constrained-decoding
masks (docs/ARCHITECTURE.md#constrained-decoding) are exercised; these add prefix-shadowing names and snake-case collisions).
Each case is built from its own `random.Random(seed + id)`, so editing one case never shifts
the others. Tools are compact ASCII JSON (as json.dumps(separators=(",", ":")) writes it, with
integers only), so needle-rs feeds the encoder the same text as libneedle (docs/ARCHITECTURE.md#tools-json):
  * the five tool-name conventions: snake, camel, Pascal, UPPER_SNAKE, kebab (+ acronyms, v2);
  * 0-8 parameters per tool, 1-20 tools per case (a few edge cases: a bare tool object, `[]`);
  * flat, JSON-Schema and OpenAI (`{"type":"function","function":{...}}`) styles;
  * short and long queries, single spaces only (a few with non-ASCII letters / empty).

Usage: python3 tools/gen_parity_cases.py [--out cases.jsonl]   (default: print a summary)
"""
import argparse
import json
import random
import sys

SEED = 20240601

TINY_PRESETS = ["tiny", "tiny-ffn", "tiny-bf16", "tiny-f16", "tiny-head"]

VERBS = ["get", "set", "create", "delete", "update", "list", "search", "find", "send", "book",
         "cancel", "check", "fetch", "convert", "calculate", "translate", "schedule", "play",
         "stop", "add", "remove", "open", "close", "read", "upload", "download", "track",
         "compare", "validate", "reserve", "order", "share", "summarize", "lookup", "start"]
NOUNS = ["weather", "forecast", "flight", "hotel", "email", "message", "event", "meeting",
         "reminder", "file", "folder", "user", "account", "order", "payment", "invoice", "stock",
         "price", "song", "playlist", "recipe", "restaurant", "movie", "ticket", "route",
         "traffic", "news", "article", "contact", "note", "task", "timer", "alarm", "currency",
         "image", "video", "device", "light", "temperature", "document", "report", "calendar",
         "location", "car", "package", "shipment", "review", "balance", "transaction", "podcast"]
QUALIFIERS = ["info", "details", "status", "list", "history", "summary", "by_id", "count",
              "settings", "v2"]
ACRONYMS = ["html", "url", "api", "sms", "pdf", "json", "id"]

PARAM_KEYS = ["city", "location", "date", "time", "query", "limit", "units", "language",
              "email", "subject", "body", "recipient", "amount", "currency", "from", "to",
              "start_date", "end_date", "user_id", "order_id", "priority", "title", "max_results",
              "include_details", "format", "category", "sort_by", "page", "radius", "latitude",
              "longitude", "startDate", "maxResults", "userId", "departure", "destination",
              "passengers", "cuisine", "genre", "artist", "volume", "duration", "message",
              "phone_number", "zip_code", "country", "timezone", "keyword", "tags", "status"]
TYPES = ["string", "string", "string", "integer", "number", "boolean", "array"]
ENUMS = [["celsius", "fahrenheit"], ["low", "medium", "high"], ["asc", "desc"],
         ["json", "text", "csv"], ["economy", "business", "first"]]

DESC_WORDS = ["the", "a", "for", "of", "to", "in", "with", "by", "given", "current", "user",
              "specified", "new", "existing", "latest", "all", "matching", "name", "value",
              "optional", "number", "date", "city", "list", "results", "data", "details",
              "returns", "information", "about", "from", "selected", "service", "local", "online"]

CITIES = ["Paris", "London", "Tokyo", "New York", "Berlin", "Madrid", "Rome", "Sydney", "Cairo",
          "Toronto", "Mumbai", "Seoul", "Lisbon", "Dublin", "Chicago", "Boston", "Oslo", "Lima"]
PEOPLE = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy",
          "Mallory", "Oscar", "Peggy", "Trent", "Victor", "Walter"]
DATES = ["today", "tomorrow", "next Monday", "on Friday", "March 3rd", "2024-05-17", "this weekend",
         "in two weeks", "at 9am", "at 3:30 pm", "December 24"]
TOPICS = ["the quarterly report", "the project deadline", "dinner plans", "the budget", "a refund",
          "the new design", "our trip", "the contract", "the meeting notes", "the invoice"]
SHORT_TEMPLATES = [
    "What's the weather in {city}?",
    "What is the weather like in {city} {date}?",
    "Book a flight from {city} to {city2} {date}",
    "Send an email to {person} about {topic}",
    "Remind me to call {person} {date}",
    "Play some music by {person}",
    "How much is 100 USD in EUR?",
    "Find a restaurant near {city}",
    "Cancel my order {num}",
    "Schedule a meeting with {person} {date}",
    "Translate hello to Spanish",
    "Set a timer for {num} minutes",
    "Turn off the lights",
    "Search for Python tutorials online",
    "What is the capital of France?",
    "Track package {num}",
    "Show me the news",
    "Create a note titled {topic}",
    "Convert {num} miles to kilometers",
    "Is it going to rain in {city} {date}?",
    "Get the stock price of ACME",
    "Please book a hotel in {city} for {num} nights",
    "Delete the file report_{num}.pdf",
    "Who won the game yesterday?",
    "hi",
    "Thanks!",
]
LONG_SENTENCES = [
    "I am planning a trip to {city} with {person} {date} and we need to sort out a few things first.",
    "Could you check the weather forecast there and let me know if it will be sunny or rainy?",
    "We also need a hotel close to the city center, ideally under {num} dollars per night.",
    "After that, please send an email to {person} about {topic} and copy me on it.",
    "My budget is limited, so compare the prices before you book anything.",
    "If the flight from {city} to {city2} is delayed, reschedule the meeting with {person}.",
    "Remember that I prefer window seats and vegetarian meals on long flights.",
    "Also set a reminder {date} to pack the charger, the passport and the tickets.",
    "The last time we did this the booking was cancelled, so please double check everything.",
    "Let me know the total cost in euros and in dollars when you are done.",
    "By the way, {person} asked whether the report is ready, can you look at {topic}?",
    "Please keep the answer short because I am reading it on my phone.",
]
NON_ASCII_QUERIES = [
    "Quel temps fait-il à Montréal aujourd'hui?",
    "Wie ist das Wetter in München?",
    "Reserva una mesa para dos en el café de la esquina",
    "東京の天気を教えて",
    "Send a message to Zoë about the naïve café plan",
]


def words_to_name(words, conv):
    if conv == "snake":
        return "_".join(words)
    if conv == "upper":
        return "_".join(w.upper() for w in words)
    if conv == "kebab":
        return "-".join(words)
    parts = []
    for i, w in enumerate(words):
        sub = w.split("_")
        for j, s in enumerate(sub):
            if s in ACRONYMS and conv in ("camel", "pascal") and (i or j):
                parts.append(s.upper())
            elif i == 0 and j == 0 and conv == "camel":
                parts.append(s)
            else:
                parts.append(s[:1].upper() + s[1:])
    return "".join(parts)


def snake_words(name):
    import re
    s = re.sub(r"[^a-zA-Z0-9]+", "_", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return [w for w in s.lower().split("_") if w]


def make_desc(rng, lo, hi):
    n = rng.randint(lo, hi)
    w = [rng.choice(DESC_WORDS) for _ in range(n)]
    if not w:
        return ""
    s = " ".join(w)
    return s[:1].upper() + s[1:]


def make_param(rng, style):
    t = rng.choice(TYPES)
    p = {"type": t}
    if rng.random() < 0.6:
        p["description"] = make_desc(rng, 2, 8)
    if t == "string" and rng.random() < 0.2:
        p["enum"] = rng.choice(ENUMS)
    if t == "array":
        p["items"] = {"type": rng.choice(["string", "integer"])}
    if t == "integer" and rng.random() < 0.3:
        p["default"] = rng.randint(0, 100)
    return p


def make_tool(rng, conv, style, used_snakes, words=None):
    for _ in range(0 if words else 50):
        words = [rng.choice(VERBS), rng.choice(NOUNS)]
        r = rng.random()
        if r < 0.25:
            words.append(rng.choice(QUALIFIERS))
        elif r < 0.33:
            words.insert(1, rng.choice(ACRONYMS))
        snake = "_".join(words)
        if snake not in used_snakes:
            break
    used_snakes.add("_".join(words))
    name = words_to_name(words, conv)
    nparams = rng.choice([0, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6, 7, 8])
    keys = rng.sample(PARAM_KEYS, nparams)
    props = {k: make_param(rng, style) for k in keys}
    desc = make_desc(rng, 3, 12)
    if style == "flat":
        params = props
        if props and rng.random() < 0.1:
            params = dict(props)
            params["strict"] = True          # non-object value: not a parameter key
        tool = {"name": name, "description": desc, "parameters": params}
    else:
        params = {"type": "object", "properties": props}
        if props:
            params["required"] = [k for k in keys if rng.random() < 0.5]
        tool = {"name": name, "description": desc, "parameters": params}
        if rng.random() < 0.1:
            del tool["description"]
        if style == "openai":
            tool = {"type": "function", "function": tool}
    return tool


def make_query(rng, long):
    def fill(t):
        return t.format(city=rng.choice(CITIES), city2=rng.choice(CITIES), person=rng.choice(PEOPLE),
                        date=rng.choice(DATES), topic=rng.choice(TOPICS), num=rng.randint(2, 9999))
    if long:
        n = rng.randint(3, 9)
        return " ".join(fill(s) for s in rng.sample(LONG_SENTENCES, n))
    return fill(rng.choice(SHORT_TEMPLATES))


def preset_for(n):
    if n < 400:
        return "small"
    if n < 500:
        return TINY_PRESETS[(n - 400) % len(TINY_PRESETS)]
    if n < 560:
        return "full"
    return "script"


CONVS = ["snake", "camel", "pascal", "upper", "kebab"]
STYLES = ["flat", "schema", "openai"]
NTOOLS = [1] * 8 + [2] * 3 + [3] * 3 + [4, 5, 5, 6, 8, 10, 10, 12, 15, 20]


def make_case(n):
    rng = random.Random(SEED * 1000 + n)
    preset = preset_for(n)
    conv = CONVS[n % 5]
    style = STYLES[(n // 5) % 3]
    if preset == "full":
        ntools = [1, 1, 2, 3, 5, 10, 20, 1, 3, 1][n % 10]
    else:
        ntools = rng.choice(NTOOLS)
    used = set()
    tools = []
    for _ in range(ntools):
        c = conv if rng.random() < 0.8 else rng.choice(CONVS)   # some mixed-convention cases
        tools.append(make_tool(rng, c, style, used))
    if preset == "script":
        # name-trie edge cases: a prefix-shadowing name and a snake-case collision
        for kind in ("shadow", "collide"):
            if rng.random() < 0.3:
                base = tools[rng.randrange(len(tools))]
                fn = base.get("function", base)
                words = snake_words(fn["name"])
                if kind == "shadow":
                    words = words + [rng.choice(["info", "details", "list", "v2"])]
                    c = conv
                else:
                    c = rng.choice([x for x in CONVS if words_to_name(words, x) != fn["name"]])
                tools.insert(rng.randrange(len(tools) + 1), make_tool(rng, c, style, used, words))
    r = rng.random()
    if n % 97 == 13:
        query = ""
    elif n % 53 == 7:
        query = rng.choice(NON_ASCII_QUERIES)
    else:
        query = make_query(rng, long=r < 0.3)
    if n % 71 == 5:
        tools_obj = []                      # no tools
    elif ntools == 1 and n % 11 == 3:
        tools_obj = tools[0]                # a bare tool object
    else:
        tools_obj = tools
    tools_json = json.dumps(tools_obj, separators=(",", ":"), ensure_ascii=True)
    return {"id": n, "preset": preset, "query": query, "tools": tools_json}


def make_cases(count=600):
    return [make_case(n) for n in range(count)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--count", type=int, default=600)
    a = ap.parse_args()
    cases = make_cases(a.count)
    if a.out:
        with open(a.out, "w") as f:
            for c in cases:
                f.write(json.dumps(c, ensure_ascii=False) + "\n")
    by = {}
    for c in cases:
        by[c["preset"]] = by.get(c["preset"], 0) + 1
    tl = sum(len(c["tools"]) for c in cases)
    print("%d cases %s; tools JSON %d bytes total" % (len(cases), by, tl), file=sys.stderr)


if __name__ == "__main__":
    main()
