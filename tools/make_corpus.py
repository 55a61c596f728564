#!/usr/bin/env python3
"""Deterministic synthetic tool-calling corpus for training the stand-in SentencePiece vocabulary.

Usage: python3 tools/make_corpus.py OUT_PATH [--lines N]

Stdlib only, fixed seed: the same command always writes the same bytes. The corpus mimics the
upstream training text (one field per line: user queries, tools JSON, answers) and adds
multilingual text, emoji and numbers. Other generators import the helper functions below
(Corpus(seed).example(), .query(), .tools_json(), .answer_json(), .multilingual_line(), ...).
"""

import json
import random
import sys

SEED = 20240517
DEFAULT_LINES = 90000

# ----------------------------------------------------------------------------------------------
# Slot values
# ----------------------------------------------------------------------------------------------
CITIES = [
    "Paris", "London", "New York", "Tokyo", "Berlin", "Madrid", "Rome", "Lisbon", "Amsterdam",
    "Brussels", "Vienna", "Prague", "Warsaw", "Budapest", "Athens", "Istanbul", "Cairo", "Dubai",
    "Mumbai", "Delhi", "Bangalore", "Singapore", "Bangkok", "Hanoi", "Seoul", "Beijing", "Shanghai",
    "Hong Kong", "Taipei", "Osaka", "Kyoto", "Sydney", "Melbourne", "Auckland", "Toronto",
    "Vancouver", "Montreal", "Chicago", "Boston", "Seattle", "San Francisco", "Los Angeles",
    "Austin", "Denver", "Miami", "Atlanta", "Mexico City", "Bogotá", "Lima", "Santiago",
    "Buenos Aires", "São Paulo", "Rio de Janeiro", "Lagos", "Nairobi", "Cape Town", "Johannesburg",
    "Casablanca", "Reykjavík", "Oslo", "Stockholm", "Helsinki", "Copenhagen", "Dublin", "Edinburgh",
    "Zürich", "Geneva", "Munich", "Hamburg", "Köln", "Frankfurt", "Marseille", "Lyon", "Nice",
    "Barcelona", "Sevilla", "Valencia", "Porto", "Milan", "Naples", "Florence", "Venice",
    "Kraków", "Moscow", "Saint Petersburg", "Kyiv", "Tbilisi", "Tel Aviv", "Riyadh", "Doha",
    "Karachi", "Dhaka", "Kathmandu", "Colombo", "Manila", "Jakarta", "Kuala Lumpur", "Honolulu",
    "Anchorage", "Phoenix", "Portland", "Nashville", "New Orleans", "Quebec City", "Havana",
]
COUNTRIES = ["France", "Germany", "Spain", "Italy", "Japan", "China", "Brazil", "Canada", "Mexico",
             "India", "Egypt", "Kenya", "Norway", "Sweden", "Poland", "Greece", "Turkey", "Chile",
             "Peru", "Argentina", "Australia", "Vietnam", "Thailand", "Korea", "Portugal", "Ireland"]
PEOPLE = [
    "Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
    "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Yusuf", "Zoe",
    "Mom", "Dad", "Grandma", "my boss", "the team", "Sarah", "Michael", "Jessica", "David",
    "Emma", "Liam", "Noah", "Sophia", "Mia", "Lucas", "Mateo", "Camille", "Léa", "Jürgen",
    "Sven", "Ingrid", "Aiko", "Hiroshi", "Wei", "Mei", "Priya", "Arjun", "Fatima", "Omar",
    "Chiara", "Giulia", "Pablo", "Lucía", "José", "Zoë", "Anaïs", "Björn", "Łukasz", "Dmitri",
]
ARTISTS = ["Taylor Swift", "The Beatles", "Daft Punk", "Beyoncé", "Miles Davis", "Radiohead",
           "Adele", "Coldplay", "Stromae", "Rosalía", "BTS", "Bach", "Mozart", "Nina Simone",
           "Kendrick Lamar", "Billie Eilish", "Queen", "ABBA", "Shakira", "Ed Sheeran"]
GENRES = ["jazz", "rock", "lo-fi", "classical", "hip hop", "pop", "techno", "ambient", "reggae",
          "blues", "country", "metal", "salsa", "k-pop", "bossa nova", "funk", "soul", "indie"]
SONGS = ["Bohemian Rhapsody", "Hey Jude", "Blinding Lights", "Shape of You", "Imagine",
         "Despacito", "Dancing Queen", "Clair de Lune", "Get Lucky", "Halo", "Yesterday",
         "Smells Like Teen Spirit", "Take Five", "Alors on danse", "Rolling in the Deep"]
ROOMS = ["living room", "kitchen", "bedroom", "bathroom", "office", "garage", "hallway",
         "dining room", "basement", "kids room", "porch", "garden"]
DEVICES = ["lights", "lamp", "thermostat", "fan", "heater", "air conditioner", "TV", "speaker",
           "door lock", "blinds", "vacuum", "coffee maker", "sprinkler", "garage door", "oven"]
TICKERS = ["AAPL", "MSFT", "GOOG", "AMZN", "TSLA", "NVDA", "META", "NFLX", "IBM", "ORCL", "SAP",
           "BABA", "TSM", "ASML", "SONY", "V", "JPM", "KO", "PEP", "DIS"]
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CNY", "INR", "CHF", "CAD", "AUD", "BRL", "MXN",
              "KRW", "SEK", "NOK", "PLN", "TRY", "ZAR", "BTC", "ETH"]
PRODUCTS = ["running shoes", "a laptop stand", "noise cancelling headphones", "a yoga mat",
            "coffee beans", "a phone charger", "AA batteries", "a desk lamp", "winter jacket",
            "a water bottle", "printer paper", "a mechanical keyboard", "sunscreen", "dog food",
            "a birthday card", "LEGO set", "an air fryer", "wireless earbuds", "a backpack"]
FOODS = ["pizza", "sushi", "tacos", "pad thai", "ramen", "burgers", "falafel", "pho", "curry",
         "dim sum", "paella", "croissants", "bagels", "salad", "biryani", "kebab", "poke bowl"]
CUISINES = ["Italian", "Japanese", "Mexican", "Thai", "Indian", "French", "Chinese", "Korean",
            "Vietnamese", "Greek", "Lebanese", "Ethiopian", "Spanish", "Turkish", "Peruvian"]
TOPICS = ["machine learning", "quantum computing", "climate change", "the Roman empire",
          "black holes", "Rust programming", "sourdough bread", "marathon training",
          "the French revolution", "photosynthesis", "electric cars", "jazz history",
          "meditation", "tax deductions", "Python decorators", "the stock market",
          "renewable energy", "ancient Egypt", "volcanoes", "chess openings", "CRISPR"]
NOTES = ["buy milk", "call the dentist", "pick up dry cleaning", "renew passport",
         "pay rent", "water the plants", "book vet appointment", "send invoice #4521",
         "finish the quarterly report", "email the landlord", "back up the laptop",
         "return library books", "order new contact lenses", "fix the leaking tap"]
EVENTS = ["team standup", "dentist appointment", "lunch with {p}", "project review",
          "yoga class", "flight to {c}", "birthday party", "1:1 with {p}", "doctor visit",
          "parent-teacher meeting", "sprint planning", "book club", "haircut", "gym session"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
RELDAYS = ["today", "tomorrow", "tonight", "this weekend", "next week", "on Monday",
           "next Friday", "in two days", "the day after tomorrow", "this evening"]
LANGS = ["French", "German", "Spanish", "Italian", "Japanese", "Chinese", "Russian", "Arabic",
         "Portuguese", "Korean", "Hindi", "Dutch", "Swedish", "Turkish", "Polish", "Greek"]
LANG_CODES = ["fr", "de", "es", "it", "ja", "zh", "ru", "ar", "pt", "ko", "hi", "nl", "sv", "tr",
              "pl", "el", "en"]
STREETS = ["Main St", "Baker Street", "Rue de Rivoli", "Unter den Linden", "Gran Vía",
           "5th Avenue", "Market Street", "Abbey Road", "Via del Corso", "Nevsky Prospekt",
           "Shibuya Crossing", "Champs-Élysées", "Broadway", "Sunset Blvd", "Oxford Street"]
PLACES = ["the airport", "the train station", "the nearest pharmacy", "a gas station",
          "the Eiffel Tower", "Central Park", "the museum", "the office", "home", "the hospital",
          "a coffee shop", "the beach", "the library", "the stadium", "the mall", "the zoo"]
AIRLINES = ["Air France", "Lufthansa", "Delta", "United", "Emirates", "ANA", "KLM", "Iberia",
            "Qantas", "Ryanair", "easyJet", "Turkish Airlines", "LATAM", "Singapore Airlines"]
APPS = ["WhatsApp", "Slack", "Telegram", "Signal", "Teams", "Discord", "SMS", "email", "iMessage"]

# ----------------------------------------------------------------------------------------------
# Tool catalogue: (base snake name, description, [(param, type, description, enum or None)],
#                  [query templates using {param} slots], required params)
# ----------------------------------------------------------------------------------------------
TOOLS = [
    ("get_weather", "Get the current weather for a city",
     [("city", "string", "City name", None),
      ("unit", "string", "Temperature unit", ["celsius", "fahrenheit"])],
     ["What's the weather in {city}?", "Is it raining in {city} right now?",
      "How hot is it in {city} in {unit}?", "weather {city}", "Tell me the weather in {city}",
      "Do I need an umbrella in {city}?", "Quel temps fait-il à {city} ?",
      "Wie ist das Wetter in {city}?", "¿Qué tiempo hace en {city}?"], ["city"]),
    ("get_forecast", "Get a multi-day weather forecast",
     [("location", "string", "City or region", None), ("days", "integer", "Number of days (1-14)", None)],
     ["Forecast for {location} for the next {days} days", "Will it snow in {location} this week?",
      "Give me a {days}-day forecast for {location}"], ["location"]),
    ("search_flights", "Search for flights between two airports",
     [("origin", "string", "Departure city or IATA code", None),
      ("destination", "string", "Arrival city or IATA code", None),
      ("date", "string", "Departure date (YYYY-MM-DD)", None),
      ("passengers", "integer", "Number of passengers", None),
      ("cabin", "string", "Cabin class", ["economy", "premium_economy", "business", "first"])],
     ["Find flights from {origin} to {destination} on {date}",
      "I need {passengers} tickets from {origin} to {destination} in {cabin}",
      "Cheapest flight {origin} to {destination}?", "Book me a flight to {destination} on {date}"],
     ["origin", "destination"]),
    ("book_hotel", "Book a hotel room",
     [("city", "string", "City", None), ("check_in", "string", "Check-in date", None),
      ("nights", "integer", "Number of nights", None), ("guests", "integer", "Number of guests", None)],
     ["Book a hotel in {city} from {check_in} for {nights} nights",
      "I need a room for {guests} in {city}", "Find me a hotel in {city} checking in {check_in}"],
     ["city", "check_in"]),
    ("send_message", "Send a text message to a contact",
     [("recipient", "string", "Contact name or phone number", None),
      ("message", "string", "Message body", None), ("app", "string", "Messaging app", None)],
     ["Text {recipient} that {message}", "Send a message to {recipient}: {message}",
      "Tell {recipient} on {app} that {message}", "Message {recipient} '{message}'"],
     ["recipient", "message"]),
    ("send_email", "Send an email",
     [("to", "string", "Recipient email address", None), ("subject", "string", "Subject line", None),
      ("body", "string", "Email body", None), ("cc", "array", "CC addresses", None)],
     ["Email {to} with subject '{subject}' saying {body}", "Send an email to {to} about {subject}",
      "Write to {to}: {body}"], ["to", "subject"]),
    ("create_event", "Create a calendar event",
     [("title", "string", "Event title", None), ("date", "string", "Date", None),
      ("time", "string", "Start time (HH:MM)", None), ("duration_minutes", "integer", "Duration", None),
      ("attendees", "array", "People to invite", None)],
     ["Schedule {title} on {date} at {time}", "Add {title} to my calendar for {date}",
      "Put a {duration_minutes} minute {title} at {time} {date}",
      "Create a meeting called {title} on {date}"], ["title", "date"]),
    ("list_events", "List calendar events for a day",
     [("date", "string", "Date", None), ("calendar", "string", "Calendar name", None)],
     ["What's on my calendar {date}?", "Do I have any meetings {date}?", "Show my {calendar} agenda for {date}"],
     ["date"]),
    ("set_timer", "Start a countdown timer",
     [("duration_seconds", "integer", "Duration in seconds", None), ("label", "string", "Timer label", None)],
     ["Set a timer for {duration_seconds} seconds", "Timer {duration_seconds}s for {label}",
      "Start a {label} timer for {duration_seconds} seconds"], ["duration_seconds"]),
    ("set_alarm", "Set an alarm",
     [("time", "string", "Alarm time (HH:MM)", None), ("repeat", "string", "Repeat rule", ["once", "daily", "weekdays", "weekends"]),
      ("label", "string", "Alarm label", None)],
     ["Wake me up at {time}", "Set an alarm for {time} {repeat}", "Alarm at {time} called {label}"],
     ["time"]),
    ("set_reminder", "Create a reminder",
     [("text", "string", "What to remember", None), ("when", "string", "When to remind", None)],
     ["Remind me to {text} {when}", "Don't let me forget to {text} {when}", "Reminder: {text} {when}"],
     ["text"]),
    ("control_light", "Turn smart lights on or off and set brightness",
     [("room", "string", "Room name", None), ("state", "string", "on or off", ["on", "off"]),
      ("brightness", "integer", "Brightness 0-100", None), ("color", "string", "Light colour", None)],
     ["Turn {state} the lights in the {room}", "Dim the {room} lights to {brightness}%",
      "Make the {room} {color}", "lights {state} {room}"], ["room"]),
    ("set_thermostat", "Set the thermostat temperature",
     [("temperature", "number", "Target temperature", None), ("mode", "string", "Mode", ["heat", "cool", "auto", "off"]),
      ("zone", "string", "Zone", None)],
     ["Set the thermostat to {temperature} degrees", "Set {zone} to {temperature} on {mode}",
      "It's cold, heat the {zone} to {temperature}"], ["temperature"]),
    ("lock_door", "Lock or unlock a smart door lock",
     [("door", "string", "Which door", None), ("action", "string", "lock or unlock", ["lock", "unlock"])],
     ["{action} the {door} door", "Did I lock the {door}? Please {action} it"], ["door", "action"]),
    ("play_music", "Play music",
     [("query", "string", "Song, artist, album or genre", None), ("shuffle", "boolean", "Shuffle", None),
      ("volume", "integer", "Volume 0-100", None), ("device", "string", "Speaker", None)],
     ["Play {query}", "Put on some {query} in the {device}", "Play {query} on shuffle at volume {volume}",
      "I want to hear {query}", "Mets du {query}", "Spiel {query}"], ["query"]),
    ("pause_music", "Pause playback", [("device", "string", "Speaker", None)],
     ["Pause the music", "Stop playing in the {device}", "pause"], []),
    ("get_stock_price", "Get the latest stock price",
     [("symbol", "string", "Ticker symbol", None), ("exchange", "string", "Exchange", None)],
     ["What's {symbol} trading at?", "Stock price of {symbol}", "How is {symbol} doing on {exchange} today?"],
     ["symbol"]),
    ("convert_currency", "Convert an amount between currencies",
     [("amount", "number", "Amount", None), ("from_currency", "string", "Source currency", None),
      ("to_currency", "string", "Target currency", None)],
     ["Convert {amount} {from_currency} to {to_currency}", "How much is {amount} {from_currency} in {to_currency}?",
      "{amount} {from_currency} to {to_currency}"], ["amount", "from_currency", "to_currency"]),
    ("transfer_money", "Transfer money to a contact",
     [("recipient", "string", "Recipient", None), ("amount", "number", "Amount", None),
      ("currency", "string", "Currency code", None), ("note", "string", "Payment note", None)],
     ["Send {amount} {currency} to {recipient}", "Pay {recipient} {amount} for {note}",
      "Transfer {amount} {currency} to {recipient} with note {note}"], ["recipient", "amount"]),
    ("get_account_balance", "Get bank account balance",
     [("account", "string", "Account type", ["checking", "savings", "credit"])],
     ["What's my {account} balance?", "How much money do I have in {account}?"], []),
    ("search_products", "Search an online store",
     [("query", "string", "Search terms", None), ("max_price", "number", "Maximum price", None),
      ("sort_by", "string", "Sort order", ["relevance", "price_asc", "price_desc", "rating"])],
     ["Find {query} under ${max_price}", "Search for {query} sorted by {sort_by}", "Shop for {query}"],
     ["query"]),
    ("add_to_cart", "Add a product to the shopping cart",
     [("product", "string", "Product name or id", None), ("quantity", "integer", "Quantity", None)],
     ["Add {quantity} {product} to my cart", "Put {product} in the basket", "Buy {product}"],
     ["product"]),
    ("track_order", "Track an order", [("order_id", "string", "Order number", None)],
     ["Where is my order {order_id}?", "Track package {order_id}", "Status of order #{order_id}"],
     ["order_id"]),
    ("get_directions", "Get directions between two places",
     [("origin", "string", "Start", None), ("destination", "string", "End", None),
      ("mode", "string", "Travel mode", ["driving", "walking", "transit", "cycling"])],
     ["How do I get from {origin} to {destination}?", "Directions to {destination} by {mode}",
      "Navigate to {destination}", "Route from {origin} to {destination} {mode}"], ["destination"]),
    ("find_nearby", "Find places nearby",
     [("category", "string", "Kind of place", None), ("radius_km", "number", "Search radius", None),
      ("open_now", "boolean", "Only places open now", None)],
     ["Find a {category} near me", "Any {category} open now within {radius_km} km?",
      "Where's the closest {category}?"], ["category"]),
    ("create_note", "Create a note",
     [("title", "string", "Note title", None), ("content", "string", "Note text", None),
      ("tags", "array", "Tags", None)],
     ["Take a note: {content}", "Create a note titled {title} with {content}", "Note to self: {content}"],
     ["content"]),
    ("add_todo", "Add an item to a to-do list",
     [("item", "string", "To-do item", None), ("list_name", "string", "List", None),
      ("priority", "string", "Priority", ["low", "medium", "high"])],
     ["Add {item} to my {list_name} list", "Put {item} on the to-do list with {priority} priority"],
     ["item"]),
    ("web_search", "Search the web",
     [("query", "string", "Search query", None), ("num_results", "integer", "Number of results", None)],
     ["Search the web for {query}", "Look up {query}", "Google {query}", "What is {query}?",
      "Find {num_results} articles about {query}"], ["query"]),
    ("translate_text", "Translate text into another language",
     [("text", "string", "Text to translate", None), ("target_language", "string", "Target language code", None),
      ("source_language", "string", "Source language code", None)],
     ["Translate '{text}' to {target_language}", "How do you say {text} in {target_language}?",
      "Translate from {source_language} to {target_language}: {text}"], ["text", "target_language"]),
    ("order_food", "Order food delivery",
     [("restaurant", "string", "Restaurant", None), ("items", "array", "Dishes", None),
      ("address", "string", "Delivery address", None)],
     ["Order {items} from {restaurant}", "Get me {items} delivered to {address}"], ["items"]),
    ("find_restaurant", "Find restaurants",
     [("cuisine", "string", "Cuisine", None), ("city", "string", "City", None),
      ("price_level", "integer", "1-4", None), ("party_size", "integer", "Guests", None)],
     ["Find a {cuisine} restaurant in {city}", "Table for {party_size} at a {cuisine} place in {city}",
      "Cheap {cuisine} food in {city}?"], ["city"]),
    ("get_news", "Get news headlines",
     [("topic", "string", "Topic", None), ("country", "string", "Country code", None),
      ("limit", "integer", "Number of headlines", None)],
     ["What's the latest news on {topic}?", "Top {limit} headlines in {country}", "News about {topic}"],
     []),
    ("calculate", "Evaluate a math expression", [("expression", "string", "Expression", None)],
     ["What is {expression}?", "Calculate {expression}", "compute {expression}"], ["expression"]),
    ("make_call", "Place a phone call",
     [("contact", "string", "Name or number", None), ("video", "boolean", "Video call", None)],
     ["Call {contact}", "Video call {contact}", "Phone {contact} please", "Ring {contact}"], ["contact"]),
    ("get_time", "Get the current time in a timezone", [("timezone", "string", "IANA timezone", None)],
     ["What time is it in {timezone}?", "Current time {timezone}"], ["timezone"]),
    ("book_ride", "Book a ride",
     [("pickup", "string", "Pickup location", None), ("dropoff", "string", "Drop-off location", None),
      ("ride_type", "string", "Ride type", ["standard", "xl", "premium", "shared"])],
     ["Get me a ride to {dropoff}", "Book a {ride_type} from {pickup} to {dropoff}", "Uber to {dropoff}"],
     ["dropoff"]),
    ("check_flight_status", "Check a flight's status",
     [("flight_number", "string", "Flight number", None), ("date", "string", "Date", None)],
     ["Is flight {flight_number} on time?", "Status of {flight_number} {date}"], ["flight_number"]),
    ("set_volume", "Set device volume", [("level", "integer", "0-100", None)],
     ["Volume {level}", "Turn it up to {level}", "Set the volume to {level} percent"], ["level"]),
    ("open_app", "Open an application", [("app_name", "string", "Application", None)],
     ["Open {app_name}", "Launch {app_name}", "Start {app_name} for me"], ["app_name"]),
    ("get_definition", "Look up a word", [("word", "string", "Word", None), ("language", "string", "Language", None)],
     ["Define {word}", "What does {word} mean?", "Meaning of {word} in {language}"], ["word"]),
]

# Extra verbs / nouns used to synthesise "unseen" tools for diversity.
VERBS = ["get", "set", "list", "create", "delete", "update", "find", "search", "fetch", "send",
         "book", "cancel", "check", "compute", "convert", "schedule", "start", "stop", "toggle",
         "open", "close", "add", "remove", "read", "write", "play", "pause", "resume", "share",
         "upload", "download", "sync", "lookup", "query", "estimate", "reserve", "rate", "track"]
NOUNS = ["user", "profile", "order", "invoice", "ticket", "reservation", "playlist", "podcast",
         "contact", "message", "email", "file", "folder", "document", "photo", "video", "recipe",
         "workout", "step_count", "heart_rate", "sleep_data", "balance", "transaction", "budget",
         "route", "traffic", "parking", "charger", "battery", "wifi", "bluetooth", "device",
         "camera", "doorbell", "garage", "sprinkler", "pet_feeder", "air_quality", "pollen",
         "tide", "sunrise", "moon_phase", "exchange_rate", "crypto_price", "score", "standings",
         "lyrics", "horoscope", "joke", "quote", "trivia", "word", "synonym", "bus_schedule",
         "train_times", "gas_price", "visa_requirements", "vaccine", "appointment", "prescription"]
QUALIFIERS = ["", "", "", "v2", "by_id", "details", "list", "status", "info", "history", "summary",
              "async", "batch", "for_user", "2", "api", "v3", "nearby", "latest", "all"]
PARAM_POOL = [("id", "string"), ("user_id", "string"), ("name", "string"), ("query", "string"),
              ("limit", "integer"), ("offset", "integer"), ("page", "integer"), ("date", "string"),
              ("start_date", "string"), ("end_date", "string"), ("location", "string"),
              ("lat", "number"), ("lon", "number"), ("latitude", "number"), ("longitude", "number"),
              ("amount", "number"), ("currency", "string"), ("language", "string"),
              ("enabled", "boolean"), ("verbose", "boolean"), ("tags", "array"), ("filters", "object"),
              ("email", "string"), ("phone", "string"), ("title", "string"), ("body", "string"),
              ("category", "string"), ("sort", "string"), ("order", "string"), ("format", "string"),
              ("timeout_ms", "integer"), ("retries", "integer"), ("url", "string"), ("path", "string"),
              ("country_code", "string"), ("zip_code", "string"), ("level", "integer"),
              ("threshold", "number"), ("include_archived", "boolean"), ("ids", "array")]
DESC_WORDS = ["the", "a", "of", "for", "to", "in", "with", "and", "or", "optional", "required",
              "maximum", "minimum", "number", "name", "identifier", "unique", "ISO 8601", "date",
              "user", "current", "default", "value", "list", "string", "returned", "results",
              "filter", "by", "format", "e.g.", "page", "token", "code", "country", "city", "time",
              "zone", "amount", "unit", "language", "if", "set", "true", "false", "when", "only"]

# ----------------------------------------------------------------------------------------------
# Multilingual material
# ----------------------------------------------------------------------------------------------
MULTI = {
    "fr": ["Quel temps fait-il à Paris aujourd'hui ?", "Envoie un message à Marie pour lui dire que je serai en retard.",
           "Réserve une table pour deux ce soir à 20 h.", "Mets un minuteur de dix minutes.",
           "Allume la lumière du salon, s'il te plaît.", "Où se trouve la pharmacie la plus proche ?",
           "Traduis « bonjour tout le monde » en allemand.", "Je voudrais écouter de la musique française.",
           "Ça coûte combien en euros ?", "L'été dernier, nous sommes allés à Évian-les-Bains.",
           "Rappelle-moi d'appeler ma sœur demain matin.", "Noël approche : achète des cadeaux !"],
    "de": ["Wie wird das Wetter morgen in München?", "Schick eine Nachricht an Jürgen: Ich komme später.",
           "Stell einen Wecker für 6:30 Uhr.", "Mach das Licht in der Küche aus.",
           "Wie viel kostet ein Flug nach Zürich?", "Größe, Straße, Fußgängerübergang, Äpfel und Öl.",
           "Erinnere mich daran, die Blumen zu gießen.", "Spiel etwas Ruhiges im Schlafzimmer.",
           "Übersetze „Guten Morgen“ ins Französische.", "Die Besprechung wurde auf Donnerstag verschoben."],
    "es": ["¿Qué tiempo hará mañana en Madrid?", "Envía un mensaje a José diciendo que llego tarde.",
           "Pon una alarma a las siete y media.", "¿Dónde está la estación de tren más cercana?",
           "Reserva un vuelo a Bogotá para el próximo lunes.", "Apaga las luces del baño, por favor.",
           "¿Cuánto son 50 dólares en pesos mexicanos?", "Añade leche y huevos a la lista de la compra.",
           "¡Feliz cumpleaños, señora Núñez!", "El niño comió piña y jalapeños."],
    "zh": ["明天北京的天气怎么样？", "给妈妈发短信说我晚点回家。", "帮我设一个十分钟的计时器。",
           "把客厅的灯打开。", "从上海到东京的航班有哪些？", "播放一些轻松的音乐。", "提醒我明天早上八点开会。",
           "一百美元等于多少人民币？", "附近有没有好吃的川菜馆？", "请把这句话翻译成英文：你好，世界！"],
    "ja": ["明日の東京の天気はどうですか？", "母に「少し遅れます」とメッセージを送って。", "午前7時にアラームをセットして。",
           "リビングの電気を消してください。", "大阪までの新幹線の時間を調べて。", "ジャズを再生して。",
           "近くのコンビニはどこですか？", "カタカナとひらがなと漢字が混ざった文章です。", "ラーメンを二つ注文してください。"],
    "ru": ["Какая погода в Москве завтра?", "Отправь сообщение Дмитрию: буду через десять минут.",
           "Поставь будильник на семь утра.", "Включи свет на кухне.", "Найди билеты в Санкт-Петербург.",
           "Сколько стоит один евро в рублях?", "Напомни мне купить хлеб и молоко.", "Съешь же ещё этих мягких французских булок."],
    "ar": ["ما هو الطقس في دبي اليوم؟", "أرسل رسالة إلى أحمد أنني سأتأخر.", "اضبط المنبه على الساعة السادسة صباحا.",
           "شغل بعض الموسيقى الهادئة.", "أين أقرب صيدلية؟", "كم يساوي مئة دولار بالريال السعودي؟", "احجز طاولة لشخصين الليلة."],
    "ko": ["내일 서울 날씨 어때?", "엄마에게 늦는다고 문자 보내줘.", "거실 불 꺼줘.", "재즈 음악 틀어줘."],
    "hi": ["दिल्ली में आज मौसम कैसा है?", "माँ को संदेश भेजो कि मैं देर से आऊँगा।", "सुबह छह बजे का अलार्म लगाओ।"],
    "pt": ["Qual é a previsão do tempo para São Paulo?", "Manda uma mensagem para o João: já estou a caminho.",
           "Liga as luzes da sala.", "Quanto é 20 euros em reais?"],
    "it": ["Che tempo fa domani a Milano?", "Manda un messaggio a Giulia: arrivo tra cinque minuti.",
           "Accendi le luci in cucina.", "Prenota un tavolo per quattro alle otto."],
    "el": ["Τι καιρό θα κάνει αύριο στην Αθήνα;", "Στείλε μήνυμα στη Μαρία."],
    "tr": ["Yarın İstanbul'da hava nasıl olacak?", "Işıkları kapat lütfen, çok güzel değil mi?"],
    "pl": ["Jaka będzie jutro pogoda w Krakowie?", "Zażółć gęślą jaźń."],
    "he": ["מה מזג האוויר בתל אביב?", "שלח הודעה לדני."],
    "th": ["พรุ่งนี้อากาศที่กรุงเทพเป็นอย่างไร", "เปิดไฟในห้องนั่งเล่น"],
    "vi": ["Thời tiết ở Hà Nội hôm nay thế nào?", "Gửi tin nhắn cho mẹ."],
}
EMOJI = ["😀", "😂", "🥲", "😍", "🤔", "👍", "👎", "🙏", "🔥", "🎉", "❤️", "💡", "📅", "⏰", "☀️",
         "🌧️", "❄️", "🌈", "✈️", "🚗", "🏠", "🎵", "🍕", "🍣", "☕", "💰", "📈", "🛒", "📍", "📝",
         "🔍", "👨‍👩‍👧‍👦", "👩🏽‍💻", "🏳️‍🌈", "🇫🇷", "🇯🇵", "🇺🇸", "🇩🇪", "🇧🇷", "👋🏻", "🤷‍♂️", "✅", "❌", "⚡",
         "🎂", "🐶", "🐱", "🌍", "🚀", "⭐"]

CASE_STYLES = ["snake", "camel", "pascal", "upper", "kebab"]


def convert_case(snake: str, style: str) -> str:
    parts = [p for p in snake.split("_") if p]
    if style == "snake":
        return "_".join(parts)
    if style == "camel":
        return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    if style == "pascal":
        return "".join(p[:1].upper() + p[1:] for p in parts)
    if style == "upper":
        return "_".join(p.upper() for p in parts)
    if style == "kebab":
        return "-".join(parts)
    raise ValueError(style)


class Corpus:
    """Seeded generator of queries, tool definitions and answers."""

    def __init__(self, seed: int = SEED):
        self.r = random.Random(seed)

    # ---------------------------------------------------------------- values
    def date(self) -> str:
        r = self.r
        k = r.randrange(6)
        if k == 0:
            return f"{r.randint(2023, 2027)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
        if k == 1:
            return f"{r.choice(MONTHS)} {r.randint(1, 28)}"
        if k == 2:
            return f"{r.randint(1, 28)} {r.choice(MONTHS)} {r.randint(2023, 2027)}"
        if k == 3:
            return r.choice(WEEKDAYS)
        return r.choice(RELDAYS)

    def time(self) -> str:
        r = self.r
        if r.random() < 0.5:
            return f"{r.randint(0, 23):02d}:{r.choice([0, 5, 15, 30, 45, r.randint(0, 59)]):02d}"
        return f"{r.randint(1, 12)}{r.choice(['am', 'pm', ' am', ' pm', ':30 pm', ':15am'])}"

    def number(self) -> str:
        r = self.r
        k = r.randrange(8)
        if k == 0:
            return str(r.randint(0, 9))
        if k == 1:
            return str(r.randint(10, 999))
        if k == 2:
            return str(r.randint(1000, 10 ** 9))
        if k == 3:
            return f"{r.uniform(0, 1000):.2f}"
        if k == 4:
            return f"{r.uniform(-50, 50):.1f}"
        if k == 5:
            return f"{r.randint(1, 999)},{r.randint(0, 999):03d}"
        if k == 6:
            return f"{r.uniform(0, 1):.{r.randint(1, 8)}f}"
        return f"{r.randint(1, 9)}e{r.randint(-9, 12)}"

    def word(self) -> str:
        """A pronounceable pseudo-word (adds open-vocabulary diversity)."""
        r = self.r
        cons = "bcdfghjklmnprstvwzy"
        vows = "aeiou"
        w = "".join(r.choice(cons) + r.choice(vows) + (r.choice("nrslt") if r.random() < 0.3 else "")
                    for _ in range(r.randint(1, 4)))
        return w.capitalize() if r.random() < 0.3 else w

    def slot(self, pname: str, ptype: str, enum):
        """Return (text shown in the query, JSON value for the answer)."""
        r = self.r
        if enum:
            v = r.choice(enum)
            return v, v
        n = pname
        if ptype == "integer":
            if "seconds" in n:
                v = r.choice([30, 60, 90, 120, 180, 300, 600, 900, 1200, 1800, 3600, r.randint(5, 7200)])
            elif n in ("volume", "level", "brightness"):
                v = r.randint(0, 100)
            elif n in ("days",):
                v = r.randint(1, 14)
            else:
                v = r.randint(1, 12) if r.random() < 0.8 else r.randint(13, 5000)
            return str(v), v
        if ptype == "number":
            if r.random() < 0.5:
                v = r.randint(1, 5000)
                return str(v), v
            v = round(r.uniform(0.5, 999), r.choice([1, 2]))
            return repr(v), v
        if ptype == "boolean":
            v = r.random() < 0.5
            return ("yes" if v else "no"), v
        if ptype == "array":
            pool = {"attendees": PEOPLE, "items": FOODS, "cc": None, "tags": None}.get(n)
            if pool is None:
                vals = [self.word().lower() for _ in range(r.randint(1, 3))]
            else:
                vals = r.sample(pool, r.randint(1, 3))
            return " and ".join(vals), vals
        if ptype == "object":
            v = {self.word().lower(): self.word().lower()}
            return json.dumps(v), v
        # strings
        table = {
            "city": CITIES, "location": CITIES, "origin": CITIES, "destination": CITIES + PLACES,
            "recipient": PEOPLE, "contact": PEOPLE, "room": ROOMS, "zone": ROOMS, "door": ["front", "back", "garage", "side"],
            "device": ROOMS, "symbol": TICKERS, "from_currency": CURRENCIES, "to_currency": CURRENCIES,
            "currency": CURRENCIES, "topic": TOPICS, "cuisine": CUISINES, "restaurant": ["Luigi's", "Sakura", "El Toro", "Chez Marcel", "Golden Dragon"],
            "category": ["pharmacy", "coffee shop", "gas station", "ATM", "supermarket", "bakery", "hospital", "park"],
            "target_language": LANG_CODES + LANGS, "source_language": LANG_CODES, "language": LANGS,
            "app": APPS, "app_name": ["Spotify", "Maps", "Camera", "Calculator", "Chrome", "Notes", "Settings"],
            "pickup": PLACES + STREETS, "dropoff": PLACES + STREETS, "address": STREETS,
            "exchange": ["NASDAQ", "NYSE", "LSE", "TSE", "Euronext"], "country": COUNTRIES + ["us", "gb", "fr", "de", "jp"],
            "calendar": ["work", "personal", "family"], "list_name": ["groceries", "work", "home", "shopping"],
            "timezone": ["Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Sydney", "Asia/Kolkata"],
            "color": ["red", "blue", "warm white", "green", "purple", "#FF8800"],
        }
        if n in table:
            v = r.choice(table[n])
        elif n in ("date", "check_in", "when"):
            v = self.date()
        elif n == "time":
            v = self.time()
        elif n in ("message", "body", "note", "content", "text"):
            v = r.choice(NOTES + ["I'll be late", "running 10 minutes behind", "see you at " + self.time(),
                                  "happy birthday!", "the meeting moved to " + r.choice(WEEKDAYS),
                                  "can you pick up " + r.choice(FOODS) + "?", "thanks " + r.choice(EMOJI)])
        elif n in ("title", "label", "subject", "item"):
            v = r.choice(EVENTS + NOTES).format(p=r.choice(PEOPLE), c=r.choice(CITIES))
        elif n == "query":
            v = r.choice(TOPICS + ARTISTS + GENRES + SONGS + PRODUCTS)
        elif n == "product":
            v = r.choice(PRODUCTS)
        elif n == "to":
            v = f"{r.choice(PEOPLE).lower().replace(' ', '.')}@{r.choice(['example.com', 'gmail.com', 'work.org', 'uni.edu'])}"
        elif n == "order_id":
            v = f"{r.choice(['', 'A', 'ORD-', '#'])}{r.randint(10000, 99999999)}"
        elif n == "flight_number":
            v = f"{r.choice(['AF', 'LH', 'DL', 'UA', 'BA', 'NH', 'EK'])}{r.randint(1, 9999)}"
        elif n == "expression":
            v = f"{r.randint(1, 999)} {r.choice('+-*/')} {r.randint(1, 999)}"
            if r.random() < 0.3:
                v = f"sqrt({r.randint(2, 10000)})"
        elif n == "word":
            v = r.choice(["serendipity", "ephemeral", "ubiquitous", "Weltschmerz", "saudade", "hygge", self.word()])
        else:
            v = self.word()
        return v, v

    # ---------------------------------------------------------------- tools
    def synth_tool(self):
        """An invented tool: (snake name, description, params, templates, required)."""
        r = self.r
        q = r.choice(QUALIFIERS)
        name = f"{r.choice(VERBS)}_{r.choice(NOUNS)}" + (f"_{q}" if q else "")
        params = []
        for pn, pt in r.sample(PARAM_POOL, r.randint(0, 4)):
            desc = " ".join(r.choice(DESC_WORDS) for _ in range(r.randint(2, 7))).capitalize()
            params.append((pn, pt, desc, None))
        desc = f"{name.replace('_', ' ').capitalize()} {' '.join(r.choice(DESC_WORDS) for _ in range(r.randint(0, 6)))}".strip()
        tmpl = [f"Please {name.replace('_', ' ')}" + "".join(f" with {p[0]} {{{p[0]}}}" for p in params)]
        req = [p[0] for p in params if r.random() < 0.5]
        return (name, desc, params, tmpl, req)

    def pick_tool(self):
        return self.r.choice(TOOLS) if self.r.random() < 0.8 else self.synth_tool()

    def tool_def(self, tool, style=None, schema=None, case=None):
        """Return (python object for the tool definition, displayed name)."""
        r = self.r
        name, desc, params, _tmpl, req = tool
        case = case or r.choices(CASE_STYLES, weights=[6, 2, 2, 1, 1])[0]
        shown = convert_case(name, case)
        style = style or r.choice(["flat", "flat", "openai"])
        schema = schema or ("json_schema" if style == "openai" else r.choice(["flat", "flat", "json_schema"]))
        props = {}
        for pn, pt, pd, en in params:
            p = {"type": pt}
            if r.random() < 0.85:
                p["description"] = pd
            if en:
                p["enum"] = list(en)
            if pt == "array" and r.random() < 0.5:
                p["items"] = {"type": "string"}
            if pt in ("integer", "number") and r.random() < 0.2:
                p["minimum"] = 0
            props[pn] = p
        if schema == "json_schema":
            parameters = {"type": "object", "properties": props}
            if req:
                parameters["required"] = list(req)
        else:
            parameters = props
        fn = {"name": shown}
        if r.random() < 0.92:
            fn["description"] = desc
        fn["parameters"] = parameters
        if style == "openai":
            return {"type": "function", "function": fn}, shown
        return fn, shown

    def tools_list(self, tool, extra=None):
        r = self.r
        extra = r.choice([0, 0, 1, 1, 2, 3]) if extra is None else extra
        tools = [tool] + [self.pick_tool() for _ in range(extra)]
        r.shuffle(tools)
        style = r.choice(["flat", "flat", "openai"])
        defs = []
        names = {}
        for t in tools:
            obj, shown = self.tool_def(t, style=style if r.random() < 0.9 else None)
            defs.append(obj)
            names[t[0]] = shown
        return defs, names

    def tools_json(self, defs, pretty=False, ascii_only=True) -> str:
        if pretty:
            return json.dumps(defs, indent=self.r.choice([2, 4]), ensure_ascii=ascii_only)
        return json.dumps(defs, separators=(",", ":"), ensure_ascii=ascii_only)

    # ---------------------------------------------------------------- queries and answers
    def query_and_args(self, tool):
        r = self.r
        name, _desc, params, tmpl, req = tool
        t = r.choice(tmpl)
        args = {}
        fill = {}
        for pn, pt, _pd, en in params:
            shown, val = self.slot(pn, pt, en)
            fill[pn] = shown
            if "{" + pn + "}" in t or (pn in req):
                args[pn] = val
        q = t.format(**fill)
        if r.random() < 0.15:
            q = q.lower()
        if r.random() < 0.1:
            q = q + " " + r.choice(["please", "thanks", "asap", "!", "?", r.choice(EMOJI), "pls", "thank you!"])
        if r.random() < 0.05:
            q = r.choice(["Hey, ", "Hi! ", "OK so ", "Um, ", "Could you ", "Quick one: "]) + q
        return q, args

    def answer_json(self, calls, ascii_only=None) -> str:
        if ascii_only is None:
            ascii_only = self.r.random() < 0.7
        return json.dumps(calls, separators=(",", ":"), ensure_ascii=ascii_only)

    def example(self):
        """One (query, tools_json, answer) triple."""
        r = self.r
        tool = self.pick_tool()
        defs, names = self.tools_list(tool)
        q, args = self.query_and_args(tool)
        calls = [{"name": tool[0] if r.random() < 0.7 else names[tool[0]], "arguments": args}]
        if r.random() < 0.12:  # two calls
            t2 = self.pick_tool()
            q2, a2 = self.query_and_args(t2)
            q = q.rstrip("?.!") + r.choice([" and ", ", then ", ". Also ", " & "]) + q2[:1].lower() + q2[1:]
            calls.append({"name": t2[0], "arguments": a2})
            d2, _ = self.tool_def(t2)
            defs.append(d2)
        if r.random() < 0.07:  # irrelevant query -> no call
            q = r.choice(["Tell me a joke", "How are you?", "What's the meaning of life?", "Thanks!",
                          "Who wrote Hamlet?", "Good night", "lol", "ok", "never mind", r.choice(EMOJI) * 3,
                          "Write a haiku about " + r.choice(TOPICS)])
            calls = []
        return q, self.tools_json(defs, pretty=r.random() < 0.03), self.answer_json(calls)

    def multilingual_line(self) -> str:
        r = self.r
        lang = r.choice(list(MULTI))
        s = r.choice(MULTI[lang])
        k = r.randrange(5)
        if k == 0:
            s = s + " " + r.choice(EMOJI)
        elif k == 1:
            s = s + " " + self.number()
        elif k == 2:
            s = r.choice(MULTI[r.choice(list(MULTI))]) + " " + s
        return s

    def number_line(self) -> str:
        r = self.r
        k = r.randrange(4)
        if k == 0:
            return " ".join(self.number() for _ in range(r.randint(1, 8)))
        if k == 1:
            return f"{r.choice(['Call', 'Dial', 'Text'])} +{r.randint(1, 99)} {r.randint(100, 999)} {r.randint(100, 9999)} {r.randint(1000, 9999)}"
        if k == 2:
            return f"Order #{r.randint(1, 10**8)} total {r.choice(['$', '€', '£', '¥', '₹'])}{r.uniform(1, 9999):.2f} on {self.date()} at {self.time()}"
        return f"{r.randint(1, 999)} {r.choice('+-*/^%')} {r.randint(1, 999)} = {self.number()}"

    def emoji_line(self) -> str:
        r = self.r
        return " ".join(r.choice(EMOJI + [self.word()]) for _ in range(r.randint(1, 8)))

    def lines(self, n_lines: int):
        """Yield exactly n_lines corpus lines."""
        r = self.r
        out = 0
        while out < n_lines:
            x = r.random()
            if x < 0.80:
                q, t, a = self.example()
                for s in (q, t, a):
                    if out < n_lines:
                        yield s
                        out += 1
                continue
            if x < 0.90:
                s = self.multilingual_line()
            elif x < 0.95:
                s = self.number_line()
            else:
                s = self.emoji_line()
            yield s
            out += 1


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = argv[1]
    n = DEFAULT_LINES
    if len(argv) >= 4 and argv[2] == "--lines":
        n = int(argv[3])
    c = Corpus(SEED)
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for s in c.lines(n):
            # One field per physical line: pretty-printed JSON keeps its newlines flattened.
            f.write(s.replace("\r", " ").replace("\n", " ") + "\n")
            count += 1
    print(f"wrote {count} lines to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
