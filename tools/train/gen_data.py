#!/usr/bin/env python3
"""Synthetic tool-calling data for the bundled demo Needle model (issue 8).

A catalogue of tools (weather, travel, messaging, calendar, timers, smart home, music, finance,
shopping, maps, notes, ...) with string / number / integer / boolean / enum parameters, queries
from many phrasings with slot values drawn from large procedural spaces (so the model has to copy
values from the query instead of memorising them), multi-call examples and queries no tool fits
(answer `[]`). Each example shows a random subset of 1-10 tools, in the flat or the OpenAI /
JSON-Schema style, with tool names in one of five naming conventions.

Targets are exactly what Needle v1 emits: `<tool_call>` then the compact JSON array of calls, then
EOS; the model sees snake_cased tool names (libneedle normalises them, docs/ARCHITECTURE.md#tools-json) and the answer uses
them (libneedle restores the caller's spelling afterwards).

Training also mixes in (never in the held-out split): more phrasings per catalogue tool
(EXTRA_TEMPLATES, none of them a near-copy of a held-out phrasing); catalogue tools asked for with
the words of their own names ("named") or with one or two keywords of their name and description
("kw", and "kw_notool" where that tool is not offered); and procedurally invented tools (verb + nouns, 1-3
parameters) whose queries use their name words, shown next to distractors that share the verb
("synth", and "synth_notool" where the asked-for tool is missing). They teach the model to read the
tools list instead of recognising memorised phrasings. The second training phase (train.sh) adds
`--more-phrasings F` (that fraction of catalogue requests phrased with more_templates.py's
MORE_TEMPLATES, ~30 more phrasings per tool) and `--no-call-weight W` (the kinds answered [] get W
times their mixture weight); with the defaults (0 and 1) the output is unchanged.

Held-out split: phrasings (templates) never used in training, slot values never seen in training,
and fresh random tool combinations. `--heldout-from` keeps an existing held-out split (the
committed one) and draws the training set around it instead. Categories: `values` (training phrasings, unseen values),
`phrasings` (unseen phrasings, unseen values), `notool` (answer []).

Stdlib only; everything is drawn from random.Random(seed), so output is reproducible.

Usage: python3 tools/train/gen_data.py --out-dir target/needle-demo/data [--train N] [--heldout N]
"""
import argparse
import json
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from ref_tools import snake_case  # noqa: E402
sys.path.insert(0, HERE)
from more_templates import MORE_TEMPLATES  # noqa: E402

# ------------------------------------------------------------------ value spaces

REAL_CITIES = """Paris London Tokyo Berlin Madrid Rome Lisbon Oslo Vienna Prague Dublin Athens Cairo
Lima Bogota Quito Santiago Toronto Chicago Boston Denver Seattle Austin Miami Dallas Houston Phoenix
Atlanta Sydney Melbourne Auckland Mumbai Delhi Seoul Beijing Shanghai Bangkok Manila Jakarta Hanoi
Nairobi Lagos Accra Dakar Tunis Istanbul Ankara Moscow Warsaw Krakow Budapest Zurich Geneva Munich
Hamburg Milan Naples Seville Valencia Porto Brussels Amsterdam Copenhagen Stockholm Helsinki Reykjavik
Edinburgh Glasgow Manchester Liverpool Bristol Montreal Vancouver Calgary Havana Panama Caracas Montevideo
Kyoto Osaka Taipei Doha Dubai Riyadh Tehran Karachi Lahore Dhaka Kathmandu Colombo""".split()
REAL_CITIES += ["New York", "San Francisco", "Los Angeles", "Buenos Aires", "Mexico City", "Hong Kong",
                "Cape Town", "Rio de Janeiro", "Sao Paulo", "Las Vegas", "New Delhi", "Tel Aviv"]
FIRST = """Ann Bob Carla David Emma Frank Grace Henry Irene Jack Kate Liam Maria Noah Olivia Peter
Quinn Rosa Sam Tina Umar Vera Will Xena Yusuf Zoe Alice Ben Chloe Dan Eva Fred Gina Hugo Ivy Jon Kim
Leo Mia Nina Oscar Paula Ravi Sara Tom Uma Victor Wendy Yara Zack Aisha Bruno Chen Diego Elena Farid
Hana Igor Jasmine Kofi Lena Marco Nadia Omar Priya Rahul Sofia Tariq Ursula Wei Ximena Yuki Amir Bianca
Carlos Dmitri Fatima Giulia Hiro Ingrid Javier Keiko Luca Mei Nikos Olga Pablo Rania Sven Thea""".split()
LAST = """Smith Jones Brown Garcia Miller Davis Lopez Wilson Moore Taylor Anderson Thomas Martin Lee
Walker Hall Young King Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Roberts Carter
Phillips Evans Turner Torres Parker Collins Edwards Stewart Morris Murphy Cook Rogers Morgan Cooper
Peterson Reed Bailey Kelly Howard Ward Cox Diaz Richardson Wood Watson Brooks Bennett Gray Hughes Price
Sanders Patel Nguyen Kim Chen Singh Kumar Silva Santos Rossi Muller Schmidt Novak Ivanova Tanaka""".split()
SYL = """ba be bi bo bu da de di do du fa fe fi fo ka ke ki ko ku la le li lo lu ma me mi mo mu na ne
ni no nu pa pe pi po ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo za ze zo bar ben bor dal
del dor fen fir gal gor han hel kar kel kor lan len lor mar mel mor nar nel nor par pel ran rel ror san
sel sor tan tel tor var vel vor wen wil yan yel zan zel bra bre bri cra cre dra dre fra fre gra gre pra
pre tra tre kla klo sta ste sto tha the tho ska sko vin ver ton lin mon son ria ino ella ura esh ith
ock und ast iel ora""".split()
WORDS = """the a my our your this that new old big small red blue green quick slow happy late early
meeting lunch dinner call report project team budget plan trip flight hotel car train bus ticket
office home school gym park beach store market bank doctor dentist party birthday anniversary
groceries milk bread eggs coffee tea pizza pasta salad book movie song album game show concert
tomorrow tonight today morning evening weekend monday friday please remember bring send check pay
buy call review finish start cancel move update print sign water feed walk clean fix pick up drop off
keys phone laptop charger passport wallet jacket umbrella tickets notes slides draft invoice contract
dog cat plants garden garage kitchen window door lights heater mom dad kids boss client landlord
running stuck traffic soon minutes hour running ok sure thanks sorry love miss see you there here
about around after before with without for from into over under again still just also only""".split()
WORDS += ["I'm", "don't", "can't", "it's", "we're", "you're", "that's", "let's", "I'll", "won't", "there's",
          "what's", "he's", "she's", "we'll", "isn't"]
# Well-known values always in the training half (so demo queries such as "What's the weather in
# Paris?" use familiar values); held-out values are still checked against everything drawn in training.
TRAIN_ALWAYS = {"Paris", "London", "Tokyo", "New York", "Berlin", "Rome", "Madrid", "Oslo", "Lisbon",
                "Ann", "Bob", "Alice", "Tom", "Emma", "Sam", "Maria", "David"}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
MON3 = ["Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
STREETS = ["Street", "Avenue", "Road", "Lane", "Boulevard", "Drive", "Way", "Place"]
DOMAINS = ["gmail.com", "example.com", "mail.org", "work.io", "outlook.com", "corp.net", "proton.me"]
LANGS = ["French", "Spanish", "German", "Italian", "Japanese", "Chinese", "Korean", "Arabic", "Hindi",
         "Portuguese", "Russian", "Dutch", "Swedish", "Greek", "Turkish", "Polish"]
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "INR", "CNY", "MXN", "BRL", "SEK"]
ROOMS = ["living room", "bedroom", "kitchen", "bathroom", "office", "garage", "hallway", "basement"]
GENRES = ["jazz", "rock", "pop", "classical", "hip hop", "blues", "reggae", "country", "techno", "folk"]


class Values:
    """Slot value generators. In `test` mode a value that appeared in training is redrawn; in `train`
    mode a value of a fixed held-out split (`forbidden`) is redrawn."""

    def __init__(self, rng, seen=None, split="train", forbidden=frozenset()):
        self.r = rng
        self.seen = seen if seen is not None else set()
        self.split = split
        self.forbidden = forbidden   # values of a fixed held-out split: never drawn in training

    def _part(self, items):
        # Real-word pools are split in halves: even hash -> train, odd -> held out.
        r = self.r
        pool = [x for x in items if (x in TRAIN_ALWAYS or sum(map(ord, x)) % 2 == 0) == (self.split == "train")]
        return r.choice(pool)

    def _pseudo(self, nsyl=None):
        n = nsyl or self.r.choice([2, 2, 3, 3, 4])
        return "".join(self.r.choice(SYL) for _ in range(n)).capitalize()

    def draw(self, kind):
        for _ in range(50):
            v = self._draw(kind)
            key = json.dumps(v)
            if self.split == "train":
                if key in self.forbidden:
                    continue
                self.seen.add(key)
                return v
            if key not in self.seen:
                return v
        return v

    def _draw(self, kind):
        r = self.r
        if kind == "city":
            x = r.random()
            if x < 0.35:
                return self._part(REAL_CITIES)
            if x < 0.85:
                return self._pseudo()
            return r.choice(["New ", "San ", "Port ", "Lake ", "Saint ", "El "]) + self._pseudo()
        if kind == "person":
            x = r.random()
            if x < 0.3:
                return self._part(FIRST)
            if x < 0.6:
                return self._pseudo(r.choice([2, 3]))
            if x < 0.8:
                return self._part(FIRST) + " " + self._part(LAST)
            return self._pseudo(2) + " " + self._pseudo(r.choice([2, 3]))
        if kind == "date":
            x = r.random()
            if x < 0.3:
                return "%s %d" % (r.choice(MONTHS), r.randint(1, 28 + 3 * (x < 0.1)))
            if x < 0.5:
                return "%04d-%02d-%02d" % (r.randint(2024, 2030), r.randint(1, 12), r.randint(1, 28))
            if x < 0.65:
                return "%s %d" % (r.choice(MON3), r.randint(1, 31))
            if x < 0.8:
                return "%d/%d" % (r.randint(1, 12), r.randint(1, 31))
            return r.choice(["tomorrow", "today", "next " + r.choice(WEEKDAYS), r.choice(WEEKDAYS),
                             "this " + r.choice(WEEKDAYS), "next week", "tonight"])
        if kind == "time":
            x = r.random()
            if x < 0.4:
                return "%d:%02d %s" % (r.randint(1, 12), r.randrange(0, 60, 5), r.choice(["am", "pm"]))
            if x < 0.7:
                return "%02d:%02d" % (r.randint(0, 23), r.randrange(0, 60, 5))
            if x < 0.9:
                return "%d%s" % (r.randint(1, 12), r.choice(["am", "pm"]))
            return r.choice(["noon", "midnight"])
        if kind == "text":
            n = r.randint(2, 7)
            words = [r.choice(WORDS) for _ in range(n)]
            if r.random() < 0.3:
                words.insert(r.randrange(len(words) + 1), self._pseudo(2).lower())
            s = " ".join(words)
            return s[0].upper() + s[1:] if r.random() < 0.5 else s
        if kind == "title":
            n = r.randint(1, 4)
            return " ".join((r.choice(WORDS) if r.random() < 0.6 else self._pseudo(2)).capitalize()
                            for _ in range(n))
        if kind == "topic":
            return " ".join(r.choice(WORDS) if r.random() < 0.7 else self._pseudo(2).lower()
                            for _ in range(r.randint(1, 3)))
        if kind == "item":
            return " ".join(r.choice(WORDS) if r.random() < 0.6 else self._pseudo(2).lower()
                            for _ in range(r.randint(1, 3)))
        if kind == "ticker":
            return "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(r.randint(2, 5)))
        if kind == "flight":
            return "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(2)) + str(r.randint(10, 9999))
        if kind == "code":
            return "%s%d" % ("".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(r.randint(1, 3))),
                             r.randint(100, 999999))
        if kind == "email":
            return "%s@%s" % (self._pseudo(2).lower() + r.choice(["", ".", "_"]) * 0 +
                              (str(r.randint(1, 99)) if r.random() < 0.3 else ""), r.choice(DOMAINS))
        if kind == "phone":
            return "%03d-%03d-%04d" % (r.randint(200, 999), r.randint(100, 999), r.randint(0, 9999))
        if kind == "address":
            return "%d %s %s" % (r.randint(1, 999), self._pseudo(2), r.choice(STREETS))
        if kind == "lang":
            return r.choice(LANGS)
        if kind == "currency":
            return r.choice(CURRENCIES)
        if kind == "room":
            return r.choice(ROOMS)
        if kind == "genre":
            return r.choice(GENRES)
        if kind == "amount":
            if r.random() < 0.5:
                return r.randint(1, 5000)
            v = r.randint(100, 500000) / 100.0
            while repr(v).endswith("0") and "." in repr(v) and len(repr(v).split(".")[1]) > 1:
                v = r.randint(100, 500000) / 100.0
            return v
        m = re.fullmatch(r"int(\d+)_(\d+)", kind)
        if m:
            return r.randint(int(m.group(1)), int(m.group(2)))
        raise KeyError(kind)


def show(v):
    """How a value is written in the query."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


# ------------------------------------------------------------------ tool catalogue
# params: key -> (json type, value kind or enum list, short description or "")
# templates: text with {key} slots (or {key=value} for an enum/boolean value spelled in the text
# as given after '=' with the JSON value after '|': {unit=in fahrenheit|fahrenheit}).

def T(name, desc, params, templates):
    return dict(name=name, desc=desc, params=params, templates=templates)


S, N, I, B, E = "string", "number", "integer", "boolean", "enum"

CATALOGUE = [
    T("get_weather", "Get the current weather for a city",
      {"city": (S, "city", "City name"), "unit": (E, ["celsius", "fahrenheit"], "")},
      ["What's the weather in {city}?", "How's the weather in {city}", "Weather in {city} please",
       "Is it raining in {city}?", "Tell me the weather for {city} {unit=in fahrenheit|fahrenheit}",
       "What is the temperature in {city} {unit=in celsius|celsius}?", "Check the weather in {city}",
       "Do I need a jacket in {city} today?", "weather {city}", "Give me the current conditions in {city}",
       "How hot is it in {city} right now?", "Current weather for {city} {unit=in celsius|celsius}"]),
    T("get_forecast", "Weather forecast for the coming days",
      {"city": (S, "city", ""), "days": (I, "int1_14", "Number of days")},
      ["Forecast for {city} for the next {days} days", "What will the weather be in {city} over {days} days?",
       "Give me a {days} day forecast for {city}", "{days}-day forecast {city}",
       "Will it rain in {city} this week?", "Show the forecast for {city}", "Weather outlook for {city}, {days} days"]),
    T("send_message", "Send a text message to a contact",
      {"recipient": (S, "person", ""), "text": (S, "text", "")},
      ["Text {recipient} {text}", "Send a message to {recipient} saying {text}", "Tell {recipient} that {text}",
       "Message {recipient}: {text}", "Can you text {recipient} and say {text}", "Send {recipient} a text: {text}",
       "Shoot {recipient} a message that says {text}", "Let {recipient} know {text}", "sms {recipient} {text}",
       "Write to {recipient}: {text}"]),
    T("send_email", "Send an email",
      {"to": (S, "email", "Recipient address"), "subject": (S, "title", ""), "body": (S, "text", "")},
      ["Email {to} with subject {subject}", "Send an email to {to} about {subject} saying {body}",
       "Write an email to {to}: {body}", "Mail {to} the subject {subject}",
       "Compose an email to {to} titled {subject}", "Send {to} an email that says {body}",
       "Draft a mail for {to} with the subject {subject} and body {body}"]),
    T("make_call", "Start a phone call",
      {"contact": (S, "person", ""), "video": (B, None, "")},
      ["Call {contact}", "Phone {contact}", "Ring {contact} please", "Start a video call with {contact}{video=|true}",
       "Give {contact} a call", "Video call {contact}{video=|true}", "Dial {contact}", "I want to call {contact}"]),
    T("create_event", "Add an event to the calendar",
      {"title": (S, "title", ""), "date": (S, "date", ""), "time": (S, "time", "")},
      ["Add {title} to my calendar on {date} at {time}", "Schedule {title} for {date} at {time}",
       "Create an event called {title} on {date}", "Put {title} on my calendar for {date}",
       "Book {title} on {date} at {time} in my calendar", "New calendar event: {title}, {date}, {time}",
       "Set up {title} {date} at {time}", "Remind my calendar about {title} on {date}"]),
    T("list_events", "List calendar events for a date", {"date": (S, "date", "")},
      ["What's on my calendar {date}?", "Show my events for {date}", "What do I have on {date}",
       "List my meetings on {date}", "Am I free on {date}?", "Check my schedule for {date}", "agenda {date}"]),
    T("set_timer", "Start a countdown timer",
      {"minutes": (I, "int1_180", "Duration in minutes"), "label": (S, "topic", "")},
      ["Set a timer for {minutes} minutes", "Timer {minutes} minutes", "Start a {minutes} minute timer",
       "Countdown {minutes} minutes for {label}", "Set a {minutes}-minute timer called {label}",
       "Remind me in {minutes} minutes", "Can you time {minutes} minutes for the {label}",
       "Set a timer for {label}, {minutes} minutes"]),
    T("set_alarm", "Set an alarm",
      {"time": (S, "time", ""), "repeat": (B, None, "Repeat daily")},
      ["Wake me up at {time}", "Set an alarm for {time}", "Alarm at {time} every day{repeat=|true}",
       "Set a daily alarm for {time}{repeat=|true}", "I need an alarm at {time}", "Alarm {time}",
       "Please set my alarm to {time}", "Make an alarm for {time} that repeats{repeat=|true}"]),
    T("set_reminder", "Create a reminder",
      {"text": (S, "text", ""), "time": (S, "time", "")},
      ["Remind me to {text} at {time}", "Set a reminder to {text}", "Don't let me forget to {text} at {time}",
       "Reminder at {time}: {text}", "Remind me at {time} to {text}", "Create a reminder: {text}",
       "Ping me at {time} about {text}"]),
    T("set_thermostat", "Set the thermostat temperature",
      {"temperature": (I, "int15_30", ""), "room": (S, "room", "")},
      ["Set the thermostat to {temperature} degrees", "Make the {room} {temperature} degrees",
       "Heat the {room} to {temperature}", "Change the temperature to {temperature}",
       "Turn the heating to {temperature} in the {room}", "I want it {temperature} degrees in the {room}",
       "thermostat {temperature}"]),
    T("toggle_lights", "Turn lights on or off",
      {"room": (S, "room", ""), "on": (B, None, "")},
      ["Turn on the lights in the {room}{on=|true}", "Turn off the {room} lights{on=|false}",
       "Lights on in the {room}{on=|true}", "Switch off the lights in the {room}{on=|false}",
       "Kill the lights in the {room}{on=|false}", "Can you light up the {room}{on=|true}",
       "{room} lights off{on=|false}", "Please turn the {room} lights on{on=|true}"]),
    T("lock_door", "Lock or unlock a door",
      {"door": (S, "topic", ""), "locked": (B, None, "")},
      ["Lock the {door} door{locked=|true}", "Unlock the {door} door{locked=|false}",
       "Make sure the {door} door is locked{locked=|true}", "Open the lock on the {door} door{locked=|false}",
       "Please lock {door}{locked=|true}", "unlock {door}{locked=|false}"]),
    T("play_music", "Play a song, artist or playlist",
      {"query": (S, "title", "What to play"), "shuffle": (B, None, "")},
      ["Play {query}", "Put on {query}", "I want to listen to {query}", "Play {query} on shuffle{shuffle=|true}",
       "Shuffle {query}{shuffle=|true}", "Can you play some {query}", "Start playing {query}",
       "Queue up {query}", "Blast {query}", "Music: {query}"]),
    T("play_genre", "Play music of a genre", {"genre": (S, "genre", "")},
      ["Play some {genre}", "Put on {genre} music", "I'm in the mood for {genre}", "Play {genre} radio",
       "Some {genre} please", "Start a {genre} station"]),
    T("set_volume", "Set the speaker volume", {"level": (I, "int0_100", "0-100")},
      ["Set the volume to {level}", "Volume {level}", "Turn it to {level} percent", "Change volume to {level}",
       "Make the volume {level}", "Put the sound at {level}"]),
    T("get_stock_price", "Get the latest stock price",
      {"symbol": (S, "ticker", "Ticker symbol")},
      ["What's the price of {symbol}?", "How is {symbol} trading?", "Stock price for {symbol}",
       "Check {symbol} stock", "Quote for {symbol} please", "How much is {symbol} right now",
       "Look up {symbol} shares", "{symbol} price"]),
    T("convert_currency", "Convert money between currencies",
      {"amount": (N, "amount", ""), "from": (S, "currency", ""), "to": (S, "currency", "")},
      ["Convert {amount} {from} to {to}", "How much is {amount} {from} in {to}?", "{amount} {from} to {to}",
       "Change {amount} {from} into {to}", "What's {amount} {from} worth in {to}",
       "Exchange {amount} {from} for {to}", "Calculate {amount} {from} in {to}"]),
    T("transfer_money", "Send money to a person",
      {"recipient": (S, "person", ""), "amount": (N, "amount", "")},
      ["Send {amount} dollars to {recipient}", "Pay {recipient} {amount}", "Transfer {amount} to {recipient}",
       "Wire {recipient} {amount} dollars", "Give {recipient} {amount} bucks", "Venmo {recipient} {amount}",
       "I owe {recipient} {amount}, send it", "Move {amount} to {recipient}'s account"]),
    T("check_balance", "Get an account balance",
      {"account": (E, ["checking", "savings", "credit"], "")},
      ["What's my {account=checking|checking} balance?", "How much is in my {account=savings|savings}?",
       "Check my {account=credit card|credit} balance", "Balance of {account=savings|savings} account",
       "How much money do I have in {account=checking|checking}", "Show my {account=credit|credit} account"]),
    T("search_flights", "Search for flights",
      {"origin": (S, "city", ""), "destination": (S, "city", ""), "date": (S, "date", "")},
      ["Find flights from {origin} to {destination} on {date}", "Flights {origin} to {destination}",
       "I need to fly from {origin} to {destination} {date}", "Search flights to {destination} from {origin}",
       "Any flights from {origin} to {destination} on {date}?", "Book me a flight {origin} {destination} {date}",
       "Show me flights to {destination} leaving {origin} on {date}", "Get me from {origin} to {destination} by plane"]),
    T("flight_status", "Check the status of a flight", {"flight": (S, "flight", "Flight number")},
      ["Is flight {flight} on time?", "Status of {flight}", "Check flight {flight}", "Where is flight {flight}",
       "Has {flight} landed?", "Track flight {flight}", "Is {flight} delayed?"]),
    T("book_hotel", "Book a hotel room",
      {"city": (S, "city", ""), "check_in": (S, "date", ""), "nights": (I, "int1_21", ""), "guests": (I, "int1_8", "")},
      ["Book a hotel in {city} for {nights} nights", "Find me a hotel in {city} from {check_in}",
       "I need a room in {city} on {check_in} for {guests} people", "Reserve a hotel in {city}, {nights} nights from {check_in}",
       "Hotel in {city} for {guests} guests", "Get a room in {city} for {nights} nights starting {check_in}",
       "Book {nights} nights in {city}"]),
    T("book_taxi", "Order a taxi",
      {"pickup": (S, "address", ""), "destination": (S, "address", ""), "time": (S, "time", "")},
      ["Get me a taxi to {destination}", "Order a cab from {pickup} to {destination}",
       "Book a taxi at {time} to {destination}", "I need a ride from {pickup} to {destination} at {time}",
       "Call a cab to {destination}", "Taxi to {destination} please", "Send a car to {pickup} at {time}"]),
    T("get_directions", "Get directions between places",
      {"origin": (S, "address", ""), "destination": (S, "city", ""), "mode": (E, ["driving", "walking", "transit", "cycling"], "")},
      ["Directions to {destination}", "How do I get to {destination} from {origin}?",
       "Navigate to {destination} {mode=by car|driving}", "Walking directions to {destination}{mode=|walking}",
       "Route from {origin} to {destination} {mode=by bus|transit}", "Take me to {destination}",
       "How do I bike to {destination}{mode=|cycling}", "Show the way to {destination} {mode=on foot|walking}"]),
    T("find_places", "Find places nearby",
      {"query": (S, "topic", "What to look for"), "city": (S, "city", "")},
      ["Find {query} near me", "Where is the nearest {query}?", "Search for {query} in {city}",
       "Any {query} around {city}?", "Show {query} nearby", "Look for {query} in {city}",
       "I need a {query} close by"]),
    T("create_note", "Save a note",
      {"title": (S, "title", ""), "content": (S, "text", "")},
      ["Make a note: {content}", "Write down {content}", "Create a note called {title} saying {content}",
       "Note to self: {content}", "Save a note titled {title}", "Jot down {content}",
       "Add a note {title}: {content}", "Remember this: {content}"]),
    T("search_notes", "Search saved notes", {"query": (S, "topic", "")},
      ["Find my notes about {query}", "Search notes for {query}", "What did I write about {query}?",
       "Look up my note on {query}", "Do I have notes on {query}"]),
    T("add_to_cart", "Add a product to the shopping cart",
      {"product": (S, "item", ""), "quantity": (I, "int1_20", "")},
      ["Add {quantity} {product} to my cart", "Put {product} in the cart", "Buy {quantity} {product}",
       "Order {product}", "I want to buy {product}", "Add {product} to the basket",
       "Get me {quantity} of {product}", "Purchase {quantity} {product}"]),
    T("track_order", "Track a shopping order", {"order_id": (S, "code", "")},
      ["Where is my order {order_id}?", "Track order {order_id}", "Status of order {order_id}",
       "Has {order_id} shipped?", "When will order {order_id} arrive", "Check package {order_id}"]),
    T("add_to_list", "Add an item to the shopping list",
      {"item": (S, "item", ""), "list": (S, "title", "")},
      ["Add {item} to my shopping list", "Put {item} on the {list} list", "Add {item} to {list}",
       "We need {item}", "Don't forget {item} on the list", "Shopping list: {item}", "Stick {item} on {list}"]),
    T("translate_text", "Translate text to another language",
      {"text": (S, "text", ""), "target": (S, "lang", "Target language")},
      ["Translate {text} to {target}", "How do you say {text} in {target}?", "What is {text} in {target}",
       "Translate this into {target}: {text}", "Say {text} in {target}", "{target} for {text}"]),
    T("search_web", "Search the web", {"query": (S, "topic", "")},
      ["Search the web for {query}", "Google {query}", "Look up {query}", "Search for {query} online",
       "Find information about {query}", "What does the internet say about {query}", "Web search {query}"]),
    T("get_news", "Get news headlines", {"topic": (S, "topic", ""), "count": (I, "int1_20", "")},
      ["What's the news about {topic}?", "Latest headlines on {topic}", "Show me {count} news stories about {topic}",
       "Any news on {topic}", "Top {count} headlines", "Read me the news about {topic}", "News {topic}"]),
    T("start_workout", "Start a workout session",
      {"activity": (E, ["running", "cycling", "yoga", "swimming", "walking"], ""), "minutes": (I, "int5_120", "")},
      ["Start a {activity=run|running}", "Begin a {minutes} minute {activity=yoga|yoga} session",
       "Log a {activity=swim|swimming} workout", "Track my {activity=bike ride|cycling} for {minutes} minutes",
       "Start {activity=walking|walking} workout", "I'm going for a {minutes} minute {activity=run|running}",
       "Record {activity=cycling|cycling}"]),
    T("order_food", "Order food delivery",
      {"dish": (S, "item", ""), "restaurant": (S, "title", ""), "quantity": (I, "int1_10", "")},
      ["Order {quantity} {dish} from {restaurant}", "Get me {dish} from {restaurant}", "I want {dish} delivered",
       "Order {dish}", "Can I get {quantity} {dish} delivered from {restaurant}", "Food: {dish} from {restaurant}",
       "Deliver {dish} please"]),
]

# More phrasings per catalogue tool, used in training only (the held-out phrasings stay the
# every-4th templates of CATALOGUE), so the model sees many ways to ask for each tool.
EXTRA_TEMPLATES = {
    "get_weather": ["What's it like outside in {city}?", "Weather report for {city}", "Is it sunny in {city}",
                    "Tell me how the weather is in {city}", "Any rain in {city} today?", "Temperature in {city}",
                    "Is it cold in {city} {unit=in celsius|celsius}", "Look up the weather in {city}"],
    "get_forecast": ["What's the forecast for {city}?", "Predict the weather in {city} for {days} days",
                     "Next {days} days of weather in {city}", "Forecast {city} {days} days",
                     "How will the weather look in {city} this weekend", "Upcoming weather for {city}"],
    "send_message": ["Send a text to {recipient}: {text}", "Drop {recipient} a line saying {text}",
                     "Tell {recipient} {text} by text",
                     "Please text {recipient} that {text}", "Reply to {recipient} with {text}", "DM {recipient}: {text}"],
    "send_email": ["Email {to} saying {body}", "Send a mail to {to} with the subject {subject}",
                   "Shoot an email to {to} about {subject}", "New email to {to}: {body}",
                   "Email {to} the subject {subject} and the text {body}", "Please mail {to} about {subject}"],
    "make_call": ["Call up {contact}", "Get {contact} on the phone", "Place a call to {contact}",
                  "FaceTime {contact}{video=|true}", "Start a call with {contact}", "Phone call to {contact}"],
    "create_event": ["Schedule a meeting called {title} on {date}", "Add an event {title} on {date} at {time}",
                     "Calendar: {title} on {date}", "Plan {title} for {date} at {time}",
                     "Create {title} in my calendar for {date}", "Block {date} at {time} for {title}"],
    "list_events": ["What's happening on {date}?", "Any meetings on {date}?",
                    "What events do I have {date}", "Read my agenda for {date}", "My schedule on {date}"],
    "set_timer": ["Start a timer for {minutes} minutes", "Timer for {minutes} min",
                  "Count down from {minutes} minutes", "Set {minutes} minutes on the timer for {label}",
                  "A {minutes} minute timer please"],
    "set_alarm": ["Alarm for {time} please", "Set my alarm at {time}", "Get me up at {time}",
                  "Wake me at {time} every morning{repeat=|true}", "New alarm {time}", "Set a wake-up alarm for {time}"],
    "set_reminder": ["Remind me about {text} at {time}", "Remember to {text} at {time}",
                     "Make sure I {text}", "Reminder: {text}"],
    "set_thermostat": ["Thermostat to {temperature}",
                       "Put the heat at {temperature}", "Warm up the {room} to {temperature} degrees",
                       "Cool the {room} down to {temperature}", "Adjust the thermostat to {temperature}"],
    "toggle_lights": ["Lights off in the {room}{on=|false}", "Switch on the {room} light{on=|true}", "Light the {room}{on=|true}",
                      "Turn on the {room} lamp{on=|true}", "Make the {room} dark{on=|false}"],
    "lock_door": ["Lock up the {door}{locked=|true}", "Secure the {door} door{locked=|true}",
                  "Let me in the {door} door{locked=|false}",
                  "Is the {door} locked? Lock it{locked=|true}"],
    "play_music": ["Play the song {query}", "Listen to {query}", "Put {query} on", "Play me {query}",
                   "Stream {query}", "Play {query} shuffled{shuffle=|true}", "Turn on {query}"],
    "play_genre": ["Play {genre} music", "Put some {genre} on", "I want to hear {genre}", "{genre} music please",
                   "Play a {genre} playlist"],
    "set_volume": ["Adjust the volume to {level}",
                   "Turn the volume to {level}", "Sound level {level}"],
    "get_stock_price": ["Stock quote {symbol}", "Price of {symbol} stock", "What is {symbol} at?",
                        "Get the stock price of {symbol}", "How are {symbol} shares doing", "Share price {symbol}"],
    "convert_currency": ["Convert {amount} from {from} to {to}", "{amount} {from} in {to}",
                         "Turn {amount} {from} into {to}",
                         "How many {to} is {amount} {from}"],
    "transfer_money": ["Pay {amount} to {recipient}", "Transfer {amount} dollars to {recipient}",
                       "Send money to {recipient}, {amount}"],
    "check_balance": ["Balance on my {account=checking|checking} account", "What's in my {account=savings|savings}",
                      "How much do I owe on my {account=credit card|credit}", "Check {account=savings|savings} balance",
                      "My {account=checking|checking} balance please"],
    "search_flights": ["Flights from {origin} to {destination} on {date}", "Look for flights to {destination} from {origin}",
                       "Cheap flights from {origin} to {destination} {date}",
                       "Plane tickets from {origin} to {destination}"],
    "flight_status": ["Flight {flight} status", "Is {flight} on time?", "When does {flight} arrive",
                      "Check the status of flight {flight}", "What's going on with {flight}"],
    "book_hotel": ["Hotel in {city} from {check_in} for {nights} nights", "Book a room in {city}",
                   "Find a hotel in {city} for {guests} people", "Reserve {nights} nights at a hotel in {city}"],
    "book_taxi": ["Book a cab to {destination}", "Taxi from {pickup} to {destination}", "Get a taxi at {time}",
                  "I need a taxi to {destination} at {time}", "Order a taxi to {destination}", "Ride to {destination}"],
    "get_directions": ["Route to {destination}", "Directions from {origin} to {destination}",
                       "How do I get to {destination}", "Show me how to get to {destination} {mode=walking|walking}",
                       "Guide me to {destination}", "Best way to {destination} {mode=by train|transit}"],
    "find_places": ["Find a {query} in {city}", "Search nearby for {query}", "Where can I find {query}",
                    "Nearest {query} please", "{query} near {city}", "Look for a {query} nearby"],
    "create_note": ["New note: {content}", "Take a note: {content}",
                    "Create a note titled {title}", "Save this note: {content}", "Write a note called {title}: {content}"],
    "search_notes": ["Search my notes about {query}", "Find the note about {query}", "Look in my notes for {query}",
                     "Any notes about {query}?", "Notes on {query}"],
    "add_to_cart": ["Add {product} to cart", "Put {quantity} {product} in my cart", "Cart: {product}",
                    "Add {quantity} of {product} to the cart"],
    "track_order": ["Where's order {order_id}", "Order status {order_id}",
                    "Is order {order_id} coming today?", "Tracking for {order_id}"],
    "add_to_list": ["Put {item} on my shopping list", "List: {item}",
                    "Add {item} to my list", "Note {item} on the shopping list"],
    "translate_text": ["Translate {text} into {target}", "Translate to {target}: {text}", "In {target}, {text}",
                       "Can you translate {text} to {target}", "What's {text} in {target}?"],
    "search_web": ["Search for {query}", "Search online for {query}", "Look {query} up on the web",
                   "Find {query} on the internet", "Do a web search for {query}"],
    "get_news": ["News about {topic}", "Headlines about {topic}", "Give me {count} headlines on {topic}",
                 "What's new with {topic}", "Latest news on {topic}", "Top stories about {topic}"],
    "start_workout": ["Start a {activity=cycling|cycling} workout", "Begin {activity=swimming|swimming}",
                      "Track a {minutes} minute {activity=walk|walking}", "Log {activity=running|running} for {minutes} minutes",
                      "Start my {activity=yoga|yoga} workout"],
    "order_food": ["I'd like {quantity} {dish} from {restaurant}",
                   "Deliver {quantity} {dish}", "Get {dish} delivered", "Food order: {dish}"],
}
assert not set(EXTRA_TEMPLATES) - {t["name"] for t in CATALOGUE}

CHITCHAT = [
    "Hello", "Hi there", "How are you?", "Tell me a joke", "What's the meaning of life?", "Thanks!",
    "Who are you?", "Good morning", "What can you do?", "I'm bored", "Say something funny",
    "What is your name?", "Do you like {topic}?", "Tell me about {topic}", "Why is the sky blue?",
    "How old is the universe?", "Write a poem about {topic}", "What do you think of {person}?",
    "Who won the game last night?", "Explain {topic} to me", "Good night", "I love {topic}",
    "Can you sing?", "What's 2 plus 2?", "Are you a robot?", "Tell me a story about {person}",
    "Never mind", "ok", "Cool, thanks", "What should I cook tonight?", "How do magnets work?",
    "Recommend a book", "What's your favourite color?", "Is {person} a nice name?", "Bye",
    "How tall is the Eiffel Tower?", "Who invented the telephone?", "Let's chat about {topic}",
    "What time zone is {city} in?", "Is {city} a nice place to live?", "What language do they speak in {city}?",
    "Tell me a fun fact", "I had a rough day", "Do you dream?", "What is love?", "Sing me a song about {topic}",
]
N_CHITCHAT_TEST = 10  # the last ones are held out

PREFIXES = ["", "", "", "", "", "", "Hey, ", "Please ", "Can you ", "Could you please ", "Hi! ", "Quick one: ",
            "I'd like you to ", "Okay, ", "Would you ", "Go ahead and ", "Assistant, ", "Do me a favor and ",
            "Yo ", "Um, ", "So ", "Right, ", "I need you to ", "Help me ", "Ok so ", "Hello, "]
SUFFIXES = ["", "", "", "", "", "", " please", " thanks", " now", ", thank you", " asap", "!", " for me",
            " real quick", " right away", " if you can", ", would you?", " ok?", " thx", ", cheers"]

# ------------------------------------------------------------------ procedural tools (training only)
# Tools invented per example (name = verb + one or two nouns, 1-3 parameters) whose queries use the
# words of the tool's name. They teach the model to pick a tool by reading the tools list rather than
# by recognising the catalogue's phrasings, and distractors sharing the verb make the noun decide.

SYN_VERBS = """get set check find create send start stop update delete book show list cancel add remove
open close track search schedule reserve calculate convert play pause enable disable fetch record log
share rename reset count measure rate report order request submit upload download scan print assign
invite mute archive translate compare estimate lookup""".split()
SYN_NOUNS = """parcel invoice ticket playlist recipe meeting printer battery score match budget expense
task project contact photo album file folder document password account subscription podcast episode
movie lesson course grade appointment prescription medication plant garden pet car tire fuel parking
charger route bike train bus ferry seat table menu coupon receipt refund salary tax loan rent bill
package delivery driver shift vacation holiday badge visitor guest window camera sensor fan oven
fridge washer dryer vacuum speaker channel radio station lamp blind curtain sprinkler pool heater
humidity pollen traffic tide moon sunrise sunset earthquake gate baggage visa museum concert game
team player league crypto wallet coin portfolio dividend article blog post comment review rating
survey poll quiz flashcard word definition synonym joke quote horoscope fact habit sleep calorie meal
weight mood journal diary todo clock timezone gift wishlist product deal lottery password recipe
invoice vote election petition donation charity volunteer lease contract warranty repair plumber
electrician babysitter tutor mentor interview resume job salary pension insurance claim""".split()
SYN_KEYS = {  # key -> (json type, value kind or enum list)
    "name": (S, "person"), "user": (S, "person"), "owner": (S, "person"), "friend": (S, "person"),
    "city": (S, "city"), "location": (S, "city"), "place": (S, "city"), "date": (S, "date"),
    "day": (S, "date"), "time": (S, "time"), "start_time": (S, "time"), "amount": (N, "amount"),
    "price": (N, "amount"), "count": (I, "int1_20"), "level": (I, "int0_100"), "number": (I, "int1_999"),
    "duration": (I, "int1_180"), "limit": (I, "int1_50"), "speed": (I, "int1_10"), "email": (S, "email"),
    "phone": (S, "phone"), "address": (S, "address"), "title": (S, "title"), "message": (S, "text"),
    "note": (S, "text"), "query": (S, "topic"), "keyword": (S, "topic"), "language": (S, "lang"),
    "label": (S, "topic"), "category": (S, "topic"), "code": (S, "code"), "id": (S, "code"),
    "reference": (S, "code"), "currency": (S, "currency"), "room": (S, "room"), "genre": (S, "genre"),
    "priority": (E, ["low", "medium", "high"]), "size": (E, ["small", "medium", "large"]),
    "color": (E, ["red", "green", "blue", "white", "black"]), "mode": (E, ["auto", "manual", "eco"]),
    "status": (E, ["open", "closed", "pending"]), "urgent": (B, None), "public": (B, None),
    "notify": (B, None), "recurring": (B, None),
}
SYN_FRAMES = {"city": ["in {v}", "for {v}", "at {v}"], "location": ["in {v}", "at {v}"],
              "place": ["in {v}", "at {v}"], "date": ["on {v}", "for {v}"], "day": ["on {v}", "for {v}"],
              "time": ["at {v}"], "start_time": ["at {v}", "starting {v}"], "name": ["for {v}", "with {v}"],
              "user": ["for {v}", "for user {v}"], "friend": ["with {v}", "to {v}"],
              "room": ["in the {v}"], "language": ["in {v}", "into {v}"], "message": ["saying {v}", ": {v}"],
              "note": ["saying {v}", "with the note {v}"], "query": ["about {v}", "for {v}"],
              "keyword": ["about {v}", "matching {v}"], "duration": ["for {v} minutes"],
              "email": ["to {v}", "for {v}"], "phone": ["to {v}", "at {v}"], "address": ["at {v}", "to {v}"],
              "currency": ["in {v}"], "genre": ["of {v}"]}
SYN_ARTICLES = ["the ", "my ", "a ", "", "our ", "this "]
SYN_OPEN = ["{verb} {art}{nouns}", "{verb} {art}{nouns}", "please {verb} {art}{nouns}",
            "can you {verb} {art}{nouns}", "I want to {verb} {art}{nouns}", "{verb} {nouns}",
            "I need to {verb} {art}{nouns}", "could you {verb} {art}{nouns}", "go {verb} {art}{nouns}"]


def syn_tool(r, verb=None, nouns=None):
    verb = verb or r.choice(SYN_VERBS)
    if nouns is None:
        nouns = [r.choice(SYN_NOUNS) for _ in range(r.choice([1, 1, 2]))]
        if r.random() < 0.1:
            nouns[-1] = "".join(r.choice(SYL) for _ in range(2))   # invented word
    keys = r.sample(sorted(SYN_KEYS), r.choice([1, 1, 2, 2, 3]))
    params = {k: (SYN_KEYS[k][0], SYN_KEYS[k][1], "") for k in keys}
    desc = r.choice(["%s the %s", "%s a %s", "%s %s", "%s the user's %s"]) % (verb.capitalize(), " ".join(nouns))
    return dict(name="_".join([verb] + nouns), desc=desc, params=params, templates=[], verb=verb, nouns=nouns)


def syn_query(r, tool, vals, words=None, head=None):
    """A query made of the tool's name words (or `head`) and one phrase per argument; (query, args)."""
    if head is not None:
        q = head
    else:
        verb, nouns = words or (tool["verb"], tool["nouns"])
        q = r.choice(SYN_OPEN).format(verb=verb, art=r.choice(SYN_ARTICLES), nouns=" ".join(nouns))
    args = {}
    keys = list(tool["params"])
    use = [k for i, k in enumerate(keys) if i == 0 or r.random() < 0.7]
    r.shuffle(use)
    bare = len(use) == 1 and r.random() < 0.4   # "volume 66": the value right after the words
    for k in use:
        typ, kind, _ = tool["params"][k]
        kw = k.replace("_", " ")
        if typ == B:
            v = r.random() < 0.5
            phrase = r.choice(["with %s %s" % (kw, "on" if v else "off"),
                               "%s: %s" % (kw, "yes" if v else "no"),
                               ("and make it %s" % kw) if v else ("not %s" % kw)])
        elif typ == E:
            v = r.choice(kind)
            phrase = r.choice(["%s %s" % (v, kw), "with %s %s" % (kw, v), "%s set to %s" % (kw, v)])
        else:
            v = vals.draw(kind)
            frames = SYN_FRAMES.get(k, []) + KEY_FRAMES.get(k, []) + ["with %s {v}" % kw, "%s {v}" % kw]
            phrase = ("{v}" if bare else r.choice(frames)).replace("{v}", show(v))
        args[k] = v
        q += (" " if not phrase.startswith(":") else "") + phrase
    q = q[0].upper() + q[1:]
    if r.random() < 0.3:
        q += r.choice(["?", ".", "!"])
    return q, {k: args[k] for k in keys if k in args}


# Argument phrases for catalogue keys (keyword queries), in addition to SYN_FRAMES.
KEY_FRAMES = {"origin": ["from {v}"], "destination": ["to {v}"], "recipient": ["to {v}", "for {v}"],
              "contact": ["with {v}", "to {v}"], "text": ["saying {v}", ": {v}"], "content": [": {v}", "saying {v}"],
              "to": ["to {v}"], "subject": ["about {v}", "with subject {v}"], "body": ["saying {v}", "with text {v}"],
              "minutes": ["for {v} minutes", "{v} minutes", "{v} min"], "temperature": ["to {v} degrees", "{v} degrees"],
              "level": ["to {v}", "at {v}"], "symbol": ["for {v}", "of {v}"], "from": ["from {v}"],
              "check_in": ["from {v}", "starting {v}"], "nights": ["for {v} nights"], "guests": ["for {v} people"],
              "pickup": ["from {v}"], "days": ["for {v} days"], "flight": ["{v}", "for flight {v}"],
              "order_id": ["{v}", "for order {v}"], "product": ["{v}"], "item": ["{v}"], "dish": ["{v}"],
              "restaurant": ["from {v}"], "target": ["to {v}", "into {v}"], "door": ["the {v} door"],
              "quantity": ["x{v}", "quantity {v}"], "list": ["on the {v} list", "to {v}"], "topic": ["about {v}", "on {v}"],
              "query": ["{v}"]}
KW_STOP = set("""a an the of or and to for on off in by with between from into at your my its is are be
coming some""".split())


KW_GENERIC = set("""get set create start make send add check search find turn list book play track order save
current latest new text give""".split())


def kw_words(tool):
    """Content words of a tool's name and description, in order."""
    words = []
    for w in tool["name"].split("_") + [w.lower().strip(".,") for w in tool.get("desc", "").split()]:
        if w not in KW_STOP and w not in words:
            words.append(w)
    return words


def kw_head(r, tool):
    """The head of a keyword query: one or two content words of the tool's name and description
    ("volume", "flights", "speaker volume", "set volume"; at least one of them not a generic verb),
    with an optional opener. Returns (head, words used)."""
    words = kw_words(tool)
    special = [w for w in words if w not in KW_GENERIC] or words
    x = r.random()
    if x < 0.4 or len(words) < 2:
        ws = [r.choice(special)]
    else:
        a = r.choice(special)
        b = r.choice([w for w in words if w != a] or [a])
        ws = sorted({a, b}, key=words.index)
    head = " ".join(ws)
    return r.choice(["", "", "", "please ", "can you ", "I want ", "I need ", "go ", "quick ", "my "]) + head, ws


def name_words(tool):
    """(verb, nouns) of a catalogue tool's name, for name-based training phrasings."""
    parts = tool["name"].split("_")
    return parts[0], parts[1:]


CHITCHAT_EXTRA = [
    "What is the capital of {city}?", "Who wrote {title}?", "What does {topic} mean?", "Define {topic}",
    "Tell me about {topic}", "Is {topic} good for you?", "What's the history of {city}?",
    "How far is {city} from here?", "Who is {person}?", "{person} is my friend", "I like {topic}",
    "My favourite city is {city}", "What's a good name for a {topic}?", "Can you explain {topic}?",
    "Why do people like {topic}?", "I met {person} yesterday", "Was {city} ever a capital?",
    "What rhymes with {topic}?", "Spell {topic}", "How do you pronounce {city}?", "Is it true that {text}?",
    "{text}", "lol {text}", "I think {text}", "Do you know {person}?", "What year was {city} founded?",
    "How big is {city}?", "Tell me something about {person}", "What's the opposite of {topic}?",
    "Summarize the plot of {title}", "Give me a synonym for {topic}", "Is {title} a good movie?",
    "How many people live in {city}?", "What's your opinion on {topic}?", "Do you like {genre}?",
]


CONVENTIONS = ["snake", "camel", "pascal", "kebab", "screaming"]


def convert(name, conv):
    parts = name.split("_")
    if conv == "snake":
        return name
    if conv == "camel":
        return parts[0] + "".join(p.capitalize() for p in parts[1:])
    if conv == "pascal":
        return "".join(p.capitalize() for p in parts)
    if conv == "kebab":
        return "-".join(parts)
    return name.upper()


for _t in CATALOGUE:
    for _c in CONVENTIONS:
        assert snake_case(convert(_t["name"], _c)) == _t["name"], (_t["name"], _c)


def split_templates(tool):
    """(train templates, held-out templates): every 4th template (from the second) is held out."""
    tr, te = [], []
    for i, t in enumerate(tool["templates"]):
        (te if i % 4 == 1 else tr).append(t)
    return tr, te


SLOT = re.compile(r"\{(\w+)(?:=([^|}]*)\|([^}]*))?\}")


def render(template, tool, values):
    """Fill a template. Returns (query, arguments) or None if the template is not usable."""
    args = {}
    out = []
    pos = 0
    for m in SLOT.finditer(template):
        out.append(template[pos:m.start()])
        pos = m.end()
        key, shown, jv = m.group(1), m.group(2), m.group(3)
        typ, kind, _ = tool["params"][key]
        if shown is not None:      # literal enum / boolean value
            out.append(shown)
            args[key] = {"true": True, "false": False}.get(jv, jv)
        else:
            v = values.draw(kind)
            if typ == N and isinstance(v, int):
                pass
            out.append(show(v))
            args[key] = v
    out.append(template[pos:])
    q = "".join(out)
    q = re.sub(r"\s+", " ", q).strip()
    # keep the tool's parameter order in the arguments
    ordered = {k: args[k] for k in tool["params"] if k in args}
    return q, ordered


def tool_json(tool, conv, style, rng, key_camel):
    name = convert(tool["name"], conv)

    def pkey(k):
        return convert(k, "camel") if key_camel else k

    props = {}
    for k, (typ, kind, desc) in tool["params"].items():
        p = {}
        if typ == E:
            p["type"] = "string"
            p["enum"] = list(kind)
        else:
            p["type"] = typ
        if desc and rng.random() < 0.5:
            p["description"] = desc
        props[pkey(k)] = p
    if style == "flat":
        d = {"name": name}
        if rng.random() < 0.85:
            d["description"] = tool["desc"]
        d["parameters"] = props
        return d
    params = {"type": "object", "properties": props}
    if rng.random() < 0.6:
        params["required"] = [pkey(k) for k in list(tool["params"])[:1]]
    fn = {"name": name, "description": tool["desc"], "parameters": params}
    return {"type": "function", "function": fn}


def unrelated(tool):
    """Catalogue tools that could not answer a request for `tool` (no shared domain or name word)."""
    dom = tool["name"].split("_")[-1]
    return [o for o in CATALOGUE if o is not tool and not o["name"].endswith(dom)
            and not (set(o["name"].split("_")) & set(tool["name"].split("_")) - {"get", "set", "to", "add"})]


def ncalls_tools(rng):
    # 1-10 tools, weighted towards fewer (short encoder inputs)
    return rng.choices(range(1, 11), weights=[10, 12, 12, 11, 10, 8, 6, 5, 4, 3])[0]


class Gen:
    def __init__(self, seed, split, seen, forbidden=frozenset(), more=0.0):
        self.r = random.Random(seed)
        self.split = split
        self.more = more
        self.vals = Values(self.r, seen, split, forbidden)
        self.tpl = {}
        for t in CATALOGUE:
            tr, te = split_templates(t)
            self.tpl[t["name"]] = (tr, te)
        n = len(CHITCHAT) - N_CHITCHAT_TEST
        self.chitchat = (CHITCHAT[:n], CHITCHAT[n:])

    def one_call(self, tool, heldout_phrasing):
        tr, te = self.tpl[tool["name"]]
        tpls = te if heldout_phrasing else tr
        if self.split == "train" and self.more and self.r.random() < self.more:   # --more-phrasings
            tpls = MORE_TEMPLATES[tool["name"]]
        elif self.split == "train" and self.r.random() < 0.5:   # half from EXTRA_TEMPLATES
            tpls = EXTRA_TEMPLATES.get(tool["name"], tpls)
        q, args = render(self.r.choice(tpls), tool, self.vals)
        return q, args

    def wrap(self, q):
        r = self.r
        p = r.choice(PREFIXES)
        s = r.choice(SUFFIXES)
        if p and q[:1].isupper() and not q.startswith("I ") and not q.startswith("I'"):
            q = q[0].lower() + q[1:] if p not in ("Hey, ", "Hi! ", "Quick one: ", "Okay, ") else q
        if s and q[-1:] in "?!.":
            s = ""
        return p + q + s

    def example(self, kind, heldout_phrasing=False):
        """kind: single | multi | notool | chitchat."""
        r = self.r
        conv = r.choice(CONVENTIONS)
        style = r.choice(["flat", "openai"])
        key_camel = conv in ("camel", "pascal") and r.random() < 0.5
        n = ncalls_tools(r)
        calls = []
        if kind in ("single", "multi"):
            k = 2 if kind == "multi" else 1
            chosen = r.sample(CATALOGUE, k)
            parts = []
            for t in chosen:
                q, args = self.one_call(t, heldout_phrasing)
                parts.append(q)
                calls.append((t, args))
            if k == 1:
                query = self.wrap(parts[0])
            else:
                a, b = parts
                a = a.rstrip("?!.")
                b = b[0].lower() + b[1:] if not b.startswith("I ") else b
                query = a + r.choice([" and ", ", and ", ", then ", " and also ", ". Also ", " then "]) + b
            others = [t for t in CATALOGUE if t not in chosen]
            shown = chosen + r.sample(others, max(0, n - k))
        elif kind == "notool":
            # a request for a tool that is not among those shown
            t = r.choice(CATALOGUE)
            q, _ = self.one_call(t, heldout_phrasing)
            query = self.wrap(q)
            shown = r.sample(unrelated(t), n)
        elif kind in ("synth", "synth_notool"):
            taken = {t["name"] for t in CATALOGUE}
            k = 2 if kind == "synth" and r.random() < 0.2 else 1
            targets = []
            while len(targets) < k:
                t = syn_tool(r)
                if t["name"] not in taken:
                    taken.add(t["name"])
                    targets.append(t)
            parts = []
            for t in targets:
                q, args = syn_query(r, t, self.vals)
                parts.append(q)
                calls.append((t, args))
            query = parts[0] if k == 1 else (
                parts[0].rstrip("?!.") + r.choice([" and ", ", then ", ". Also "]) + parts[1][0].lower() + parts[1][1:])
            # distractors: invented tools sharing a target's verb (so the nouns decide), other
            # invented tools and catalogue tools
            others = []
            for _ in range(r.randint(0, 3)):
                t = syn_tool(r, verb=r.choice(targets)["verb"])
                if t["name"] not in taken:
                    taken.add(t["name"])
                    others.append(t)
            others += [t for t in (syn_tool(r) for _ in range(r.randint(0, 2))) if t["name"] not in taken]
            others += r.sample(CATALOGUE, r.randint(0, 5))
            r.shuffle(others)
            if kind == "synth":
                shown = targets + others[:max(0, n - k)]
            else:
                shown = others[:max(1, n - 1)]
                calls = []
            query = self.wrap(query) if k == 1 else query
        elif kind == "named":
            # a catalogue tool asked for with the words of its name (training phrasings only)
            t = r.choice(CATALOGUE)
            q, args = syn_query(r, t, self.vals, words=name_words(t))
            query = self.wrap(q)
            calls.append((t, args))
            shown = [t] + r.sample([o for o in CATALOGUE if o is not t], n - 1)
        elif kind in ("kw", "kw_notool"):
            # a catalogue tool asked for with a few words of its name / description (training only);
            # kw_notool: the same kind of query while that tool is not offered
            t = r.choice(CATALOGUE)
            head, ws = kw_head(r, t)
            q, args = syn_query(r, t, self.vals, head=head)
            query = self.wrap(q[0].upper() + q[1:] if r.random() < 0.5 else q)
            if kind == "kw":
                calls.append((t, args))
                # no other shown tool has all the words asked for
                pool = [o for o in CATALOGUE if o is not t and not set(ws) <= set(kw_words(o))]
                shown = [t] + r.sample(pool, n - 1)
            else:
                shown = r.sample(unrelated(t), n)
        elif kind == "chitchat2":
            tpl = r.choice(CHITCHAT_EXTRA)
            query = self.wrap(re.sub(r"\{(\w+)\}", lambda m: show(self.vals.draw(m.group(1))), tpl))
            shown = r.sample(CATALOGUE, n)
        else:
            tr, te = self.chitchat
            tpl = r.choice(te if heldout_phrasing else tr)
            query = re.sub(r"\{(\w+)\}", lambda m: show(self.vals.draw(m.group(1))), tpl)
            shown = r.sample(CATALOGUE, n)
        r.shuffle(shown)
        if r.random() < 0.25:   # mixed styles within one tools list
            tools = [tool_json(t, conv, r.choice(["flat", "openai"]), r, key_camel) for t in shown]
        else:
            tools = [tool_json(t, conv, style, r, key_camel) for t in shown]
        ans = []
        for t, args in calls:
            if key_camel:
                args = {convert(k, "camel"): v for k, v in args.items()}
            ans.append({"name": t["name"], "arguments": args})
        return dict(query=query, tools=tools, answer=ans, conv=conv, style=style)


# Values from small closed spaces (every one of them occurs in any large training set).
CLOSED_VALUES = set(LANGS + CURRENCIES + ROOMS + GENRES + WEEKDAYS + ["tomorrow", "today", "next week", "tonight",
                                                                   "noon", "midnight"]
                    + ["next " + d for d in WEEKDAYS] + ["this " + d for d in WEEKDAYS])


ENUM_VALUES = {v for t in CATALOGUE for typ, kind, _ in t["params"].values() if typ == E for v in kind}


def heldout_values(rows):
    """The open-ended argument values of a held-out split (json.dumps keys, as Values.seen)."""
    out = set()
    for rec in rows:
        for c in json.loads(rec["expected"]):
            for v in c["arguments"].values():
                if isinstance(v, (bool, int)) or v in CLOSED_VALUES or v in ENUM_VALUES:
                    continue
                out.add(json.dumps(v))
    return out


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True)


def restore(ans, tools):
    """Expected answer with the caller's tool names (what libneedle returns)."""
    names = {}
    for t in tools:
        fn = t.get("function", t)
        names.setdefault(snake_case(fn["name"]), fn["name"])
    return [{"name": names.get(c["name"], c["name"]), "arguments": c["arguments"]} for c in ans]


KIND_WEIGHTS = [("single", 0.34), ("multi", 0.13), ("notool", 0.11), ("chitchat", 0.04), ("chitchat2", 0.02),
                ("synth", 0.12), ("synth_notool", 0.02), ("named", 0.08), ("kw", 0.12), ("kw_notool", 0.02)]


NO_CALL_KINDS = ("notool", "chitchat", "chitchat2", "synth_notool", "kw_notool")


def train_stream(seed, seen, forbidden=frozenset(), more=0.0, no_call_weight=1.0):
    g = Gen(seed, "train", seen, forbidden, more)
    kinds = [k for k, _ in KIND_WEIGHTS]
    w = [x * no_call_weight if k in NO_CALL_KINDS else x for k, x in KIND_WEIGHTS]
    while True:
        yield g.example(g.r.choices(kinds, w)[0])


def heldout(seed, seen, n_per):
    g = Gen(seed, "test", seen)
    out = []
    for i in range(n_per):
        ex = g.example("multi" if i % 5 == 4 else "single", heldout_phrasing=False)
        ex["category"] = "values"
        out.append(ex)
    for i in range(n_per):
        ex = g.example("multi" if i % 5 == 4 else "single", heldout_phrasing=True)
        ex["category"] = "phrasings"
        out.append(ex)
    for i in range(n_per):
        ex = g.example("notool" if i % 2 == 0 else "chitchat", heldout_phrasing=(i % 4 == 1))
        ex["category"] = "notool"
        out.append(ex)
    return out


def to_record(ex):
    tools_text = json.dumps(ex["tools"], separators=(",", ":"))
    rec = {"category": ex.get("category", ""), "query": ex["query"], "tools": tools_text,
           "answer": compact(ex["answer"]),                       # snake names, as the model emits
           "expected": compact(restore(ex["answer"], ex["tools"]))}  # caller's names (libneedle text)
    return rec


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--train", type=int, default=200000)
    ap.add_argument("--heldout", type=int, default=300, help="examples per held-out category")
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--also-seen", nargs="*", default=[],
                    help="train.jsonl files of earlier runs whose argument values count as seen")
    ap.add_argument("--heldout-from",
                    help="use this held-out split (jsonl with category, query, tools, expected) instead of "
                         "drawing one; its open-ended argument values are never drawn for training")
    ap.add_argument("--more-phrasings", type=float, default=0.0,
                    help="draw this fraction of catalogue requests from MORE_TEMPLATES (training phase 2)")
    ap.add_argument("--no-call-weight", type=float, default=1.0,
                    help="scale the mixture weights of the kinds answered [] (training phase 2)")
    a = ap.parse_args(argv)
    os.makedirs(a.out_dir, exist_ok=True)
    forbidden = set()
    fixed = None
    if a.heldout_from:
        fixed = [json.loads(line) for line in open(a.heldout_from)]
        forbidden = heldout_values(fixed)
    seen = set()
    for fn in a.also_seen:
        for line in open(fn):
            for c in json.loads(json.loads(line)["answer"]):
                for v in c["arguments"].values():
                    seen.add(json.dumps(v))
    st = train_stream(a.seed, seen, frozenset(forbidden), a.more_phrasings, a.no_call_weight)
    with open(os.path.join(a.out_dir, "train.jsonl"), "w") as f:
        for _ in range(a.train):
            f.write(json.dumps(to_record(next(st))) + "\n")
    with open(os.path.join(a.out_dir, "heldout.jsonl"), "w") as f:
        if fixed is not None:
            for rec in fixed:
                f.write(json.dumps({k: rec[k] for k in ("category", "query", "tools", "expected")}) + "\n")
        else:
            for ex in heldout(a.seed + 1000, seen, a.heldout):
                f.write(json.dumps(to_record(ex)) + "\n")
    leaked = len(forbidden & seen)
    print("train %d, heldout %s, %d distinct training values, %d forbidden held-out values (%d drawn anyway)"
          % (a.train, a.heldout_from or "%d per category" % a.heldout, len(seen), len(forbidden), leaked))


if __name__ == "__main__":
    main()
