"""The hello-world baseline of `bench.marketdata_ws`: FastAPI + uvicorn, no I/O.

uvicorn bench.hello_app:app
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}
