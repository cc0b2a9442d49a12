"""Flask app for the integration suite: routes, JSON, forms, uploads,
streaming (generator) and send_file of a real file."""

import hashlib
import os

from flask import Flask, Response, jsonify, request, send_file, stream_with_context

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "data", "sample.txt")

app = Flask(__name__)


@app.route("/")
def index():
    return "flask ok"


@app.route("/user/<name>")
def user(name):
    return jsonify(user=name, args=request.args.to_dict())


@app.route("/json", methods=["GET", "POST"])
def json_route():
    if request.method == "POST":
        return jsonify(received=request.get_json(), content_type=request.content_type)
    return jsonify(hello="flask", n=1, items=[1, 2, 3])


@app.route("/form", methods=["POST"])
def form():
    return jsonify(form=request.form.to_dict(flat=False))


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files["file"]
    data = f.read()
    return jsonify(filename=f.filename, size=len(data),
                   sha256=hashlib.sha256(data).hexdigest(),
                   note=request.form.get("note"))


@app.route("/stream")
def stream():
    n = int(request.args.get("n", 10))

    def generate():
        for i in range(n):
            yield "line %d\n" % i
    return Response(stream_with_context(generate()), mimetype="text/plain")


@app.route("/file")
def file():
    return send_file(SAMPLE, mimetype="text/plain")


@app.route("/status/<int:code>")
def status(code):
    return ("", code)
