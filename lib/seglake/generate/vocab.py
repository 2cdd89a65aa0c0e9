"""Fixed vocabularies the generator draws from.

Everything here is plain Python data; `columns.py` turns lists into Spark literal arrays
indexed by hash-derived positions, so the same index always yields the same word.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    code: str
    weight: float
    timezone: str
    locale: str
    currency: str
    # Multiplier from the EUR reference amount to the local currency amount.
    fx: float
    # Which name list (see NAMES) the country's customers get.
    names: str
    # Share of reviews written in French by customers of this country.
    french_reviews: float
    cities: tuple[tuple[str, str], ...]


COUNTRIES: tuple[Country, ...] = (
    Country(
        "FR",
        0.50,
        "Europe/Paris",
        "fr-FR",
        "EUR",
        1.0,
        "fr",
        0.92,
        (
            ("Paris", "75011"),
            ("Lyon", "69003"),
            ("Marseille", "13008"),
            ("Toulouse", "31000"),
            ("Lille", "59000"),
            ("Bordeaux", "33000"),
            ("Nantes", "44000"),
            ("Strasbourg", "67000"),
        ),
    ),
    Country(
        "GB",
        0.12,
        "Europe/London",
        "en-GB",
        "GBP",
        0.85,
        "en",
        0.03,
        (("London", "SW1A 1AA"), ("Manchester", "M1 1AE"), ("Bristol", "BS1 4DJ"), ("Leeds", "LS1 4AP")),
    ),
    Country(
        "DE",
        0.10,
        "Europe/Berlin",
        "de-DE",
        "EUR",
        1.0,
        "de",
        0.05,
        (("Berlin", "10115"), ("Munich", "80331"), ("Hamburg", "20095"), ("Cologne", "50667")),
    ),
    Country(
        "ES",
        0.09,
        "Europe/Madrid",
        "es-ES",
        "EUR",
        1.0,
        "es",
        0.08,
        (("Madrid", "28013"), ("Barcelona", "08001"), ("Valencia", "46001"), ("Seville", "41001")),
    ),
    Country(
        "BE",
        0.05,
        "Europe/Brussels",
        "fr-BE",
        "EUR",
        1.0,
        "fr",
        0.85,
        (("Brussels", "1000"), ("Liege", "4000"), ("Namur", "5000")),
    ),
    Country(
        "US",
        0.08,
        "America/New_York",
        "en-US",
        "USD",
        1.08,
        "en",
        0.02,
        (("New York", "10001"), ("Boston", "02108"), ("Philadelphia", "19103")),
    ),
    Country(
        "CA",
        0.06,
        "America/Montreal",
        "fr-CA",
        "USD",
        1.08,
        "fr",
        0.6,
        (("Montreal", "H2X 1Y4"), ("Quebec City", "G1R 4P5")),
    ),
)

CITIES: tuple[tuple[str, str, int], ...] = tuple(
    (city, postal, i) for i, c in enumerate(COUNTRIES) for city, postal in c.cities
)
CITY_OFFSETS: tuple[int, ...] = tuple(sum(len(c.cities) for c in COUNTRIES[:i]) for i in range(len(COUNTRIES)))

# Per name group: first names (with gender) and last names; accents kept on purpose so
# e-mail normalisation downstream has something to do.
NAME_GROUPS = ("fr", "en", "de", "es")
FIRST_NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "fr": (
        ("Camille", "F"),
        ("Léa", "F"),
        ("Chloé", "F"),
        ("Manon", "F"),
        ("Inès", "F"),
        ("Hélène", "F"),
        ("Lucas", "M"),
        ("Hugo", "M"),
        ("Théo", "M"),
        ("Louis", "M"),
        ("Mathéo", "M"),
        ("Jérôme", "M"),
    ),
    "en": (
        ("Olivia", "F"),
        ("Emily", "F"),
        ("Grace", "F"),
        ("Sophie", "F"),
        ("Amelia", "F"),
        ("Chloe", "F"),
        ("Oliver", "M"),
        ("Jack", "M"),
        ("Harry", "M"),
        ("George", "M"),
        ("Noah", "M"),
        ("James", "M"),
    ),
    "de": (
        ("Mia", "F"),
        ("Hannah", "F"),
        ("Lena", "F"),
        ("Jana", "F"),
        ("Sophie", "F"),
        ("Marie", "F"),
        ("Lukas", "M"),
        ("Jonas", "M"),
        ("Felix", "M"),
        ("Paul", "M"),
        ("Maximilian", "M"),
        ("Jürgen", "M"),
    ),
    "es": (
        ("Lucía", "F"),
        ("Sofía", "F"),
        ("María", "F"),
        ("Paula", "F"),
        ("Carmen", "F"),
        ("Elena", "F"),
        ("Hugo", "M"),
        ("Martín", "M"),
        ("Pablo", "M"),
        ("Alejandro", "M"),
        ("Daniel", "M"),
        ("Javier", "M"),
    ),
}
LAST_NAMES: dict[str, tuple[str, ...]] = {
    "fr": (
        "Martin",
        "Bernard",
        "Dubois",
        "Thomas",
        "Robert",
        "Richard",
        "Petit",
        "Durand",
        "Lefèvre",
        "Moreau",
        "Girard",
        "Fontaine",
    ),
    "en": (
        "Smith",
        "Jones",
        "Taylor",
        "Brown",
        "Williams",
        "Wilson",
        "Johnson",
        "Davies",
        "Evans",
        "Walker",
        "Wright",
        "Thompson",
    ),
    "de": (
        "Müller",
        "Schmidt",
        "Schneider",
        "Fischer",
        "Weber",
        "Meyer",
        "Wagner",
        "Becker",
        "Schulz",
        "Hoffmann",
        "Koch",
        "Richter",
    ),
    "es": (
        "García",
        "Rodríguez",
        "González",
        "Fernández",
        "López",
        "Martínez",
        "Sánchez",
        "Pérez",
        "Gómez",
        "Díaz",
        "Romero",
        "Navarro",
    ),
}
EMAIL_DOMAINS = ("gmail.com", "yahoo.fr", "orange.fr", "outlook.com", "hotmail.com", "gmx.de", "free.fr", "icloud.com")
# Characters folded when building e-mail local parts from names.
ACCENTED = "áàâäéèêëíìîïóòôöúùûüçñÁÉÈÍÓÚÜ"
UNACCENTED = "aaaaeeeeiiiioooouuuucnAEEIOUU"


@dataclass(frozen=True)
class Category:
    name: str
    french: str
    # Median catalogue price in EUR.
    price: float
    queries: tuple[str, str, str]


CATEGORIES: tuple[Category, ...] = (
    Category("electronics", "électronique", 180.0, ("casque bluetooth", "smartphone", "laptop 15")),
    Category("fashion", "mode", 45.0, ("robe été", "sneakers", "veste en jean")),
    Category("home", "maison", 60.0, ("lampe design", "coussin", "cafetière")),
    Category("beauty", "beauté", 25.0, ("crème hydratante", "parfum", "mascara")),
    Category("sports", "sport", 55.0, ("tapis de yoga", "running shoes", "vélo")),
    Category("books", "livres", 15.0, ("roman policier", "cookbook", "bd")),
    Category("toys", "jouets", 30.0, ("lego", "puzzle 1000", "peluche")),
    Category("grocery", "épicerie", 12.0, ("café grains", "chocolat noir", "thé vert")),
)
PRODUCTS_PER_CATEGORY = 500

# Device kinds and, per device kind, two operating systems: index = kind * 2 + variant.
DEVICE_TYPES = ("desktop", "mobile", "tablet")
OS_NAMES = ("Windows", "macOS", "iOS", "Android", "iPadOS", "Android")
OS_VERSIONS = ("10", "14.4", "17.4", "14", "17.4", "13")
DEVICE_MODELS = ("PC", "MacBookPro18,3", "iPhone15,2", "Pixel 8", "iPad13,16", "SM-X200")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
)
SCREENS = ((1920, 1080), (1440, 900), (390, 844), (412, 915), (820, 1180), (800, 1280))
# The last bot user agent is an ordinary browser string: those bots are only detectable
# by their inhuman event rate.
BOT_USER_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "price-monitor-crawler/1.3 (+https://example.net/crawler)",
    USER_AGENTS[0],
)

SITE = "https://shop.example.com"
# UTM campaigns: (source, medium, name, referrer of the landing page).
CAMPAIGNS: tuple[tuple[str, str, str, str], ...] = (
    ("newsletter", "email", "promo_flash", "https://mail.google.com/"),
    ("facebook", "paid_social", "summer_sale", "https://www.facebook.com/"),
    ("instagram", "paid_social", "new_collection", "https://www.instagram.com/"),
    ("tiktok", "paid_social", "deal_of_the_day", "https://www.tiktok.com/"),
    ("newsletter", "email", "weekly_digest", "https://mail.google.com/"),
    ("google", "cpc", "brand_search", "https://www.google.com/"),
    ("partner_blog", "referral", "gift_guide", "https://blog.example.org/"),
)
ORGANIC_REFERRERS = ("https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/")
CONTENT_PAGES = ("/blog/guide-cadeaux", "/blog/tendances", "/aide/livraison", "/magasins")
LIBRARIES = (("analytics.js", "4.15.3"), ("analytics.js", "5.2.0"))

INCOME_BANDS = ("<20k", "20-40k", "40-60k", "60-100k", ">100k")

# Review phrases, grouped by (language, sentiment) with sentiment 0 = negative,
# 1 = neutral, 2 = positive. Two distinct body phrases and sometimes a closer are joined.
REVIEW_LANGUAGES = ("fr", "en")
REVIEW_BODIES: dict[tuple[str, int], tuple[str, ...]] = {
    ("fr", 0): (
        "Très déçu par ce produit.",
        "La livraison a pris beaucoup trop de temps.",
        "Le produit est arrivé cassé.",
        "Qualité médiocre pour le prix.",
        "Impossible de joindre le service client.",
        "Remboursement toujours en attente.",
        "Ne correspond pas du tout à la description.",
        "Taille beaucoup trop petite.",
    ),
    ("fr", 1): (
        "Produit correct sans plus.",
        "Livraison dans les délais annoncés.",
        "Conforme mais l'emballage était abîmé.",
        "Rapport qualité-prix moyen.",
        "Ça fait le travail.",
        "Un peu cher pour ce que c'est.",
        "Notice peu claire mais ça fonctionne.",
        "Couleur légèrement différente de la photo.",
    ),
    ("fr", 2): (
        "Très satisfait de mon achat.",
        "Livraison rapide et soignée.",
        "Produit conforme à la description.",
        "Excellent rapport qualité-prix.",
        "Le service client a été parfait.",
        "Qualité au rendez-vous.",
        "Mes enfants l'adorent.",
        "Emballage impeccable, rien à redire.",
    ),
    ("en", 0): (
        "Very disappointed with this product.",
        "Delivery took far too long.",
        "The item arrived broken.",
        "Poor quality for the price.",
        "Customer service never answered.",
        "Still waiting for my refund.",
        "Nothing like the description.",
        "Sizing is way too small.",
    ),
    ("en", 1): (
        "Decent product, nothing special.",
        "Delivered on time.",
        "As described but the box was damaged.",
        "Average value for money.",
        "It does the job.",
        "A bit pricey for what it is.",
        "Instructions unclear but it works.",
        "Colour slightly different from the photo.",
    ),
    ("en", 2): (
        "Really happy with my purchase.",
        "Fast and careful delivery.",
        "Exactly as described.",
        "Excellent value for money.",
        "Customer service was perfect.",
        "Great quality.",
        "My kids love it.",
        "Perfect packaging, no complaints.",
    ),
}
REVIEW_CLOSERS: dict[tuple[str, int], tuple[str, ...]] = {
    ("fr", 0): ("Je ne recommande pas.", "À éviter.", "Je ne commanderai plus ici."),
    ("fr", 1): ("À voir sur la durée.", "Pourquoi pas.", "Mitigé."),
    ("fr", 2): ("Je recommande vivement !", "Je recommanderai sans hésiter.", "Parfait !"),
    ("en", 0): ("Would not recommend.", "Avoid.", "Never ordering again."),
    ("en", 1): ("We will see how it lasts.", "Why not.", "Mixed feelings."),
    ("en", 2): ("Highly recommended!", "Will order again.", "Perfect!"),
}
