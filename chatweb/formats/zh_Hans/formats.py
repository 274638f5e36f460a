# "3月5日", not Django's "03月5日" (chatweb/formats/__init__.py).
MONTH_DAY_FORMAT = "n月j日"
