"""A Flask app: GET /json returns jsonify() of a small dict (and / answers like hello.py).

GET /report renders a 150-row HTML table with Jinja (≈1 ms of Python per request): the
server-heavy page the two-worker scaling check uses, so that wrk's own CPU (which shares the two
cores with the workers in that check) is a small part of the total.
"""
from flask import Flask, jsonify

app = Flask(__name__)

REPORT = app.jinja_env.from_string(
    "<table>{% for row in rows %}<tr><td>{{ row.id }}</td><td>{{ row.name|title }}</td>"
    "<td>{{ '%.2f'|format(row.price) }}</td><td>{{ row.tags|join(', ') }}</td></tr>{% endfor %}</table>")
ROWS = [{"id": i, "name": f"item number {i}", "price": i * 1.25, "tags": ["a", "b", str(i % 7)]}
        for i in range(150)]


@app.route("/json")
def json_view():
    return jsonify(message="Hello, World!", id=42, tags=["wsgi", "bench"], ok=True)


@app.route("/report")
def report():
    return REPORT.render(rows=ROWS)


@app.route("/")
def hello():
    return "Hello, World!"
