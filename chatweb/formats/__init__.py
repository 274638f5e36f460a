"""Date formats that replace Django's for a language (settings.FORMAT_MODULE_PATH).

Django's Chinese MONTH_DAY_FORMAT is "m月j日", which writes March 5 as "03月5日"; Chinese
writes "3月5日" (its own comment says so). Only the formats named here change; every other
one stays Django's.
"""
