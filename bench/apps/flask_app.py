"""A Flask app: GET /json returns jsonify() of a small dict (and / answers like hello.py)."""
from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/json")
def json_view():
    return jsonify(message="Hello, World!", id=42, tags=["wsgi", "bench"], ok=True)


@app.route("/")
def hello():
    return "Hello, World!"
