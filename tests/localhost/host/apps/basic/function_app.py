"""A small Functions app exercising every trigger kind the local host serves (test only)."""

import json
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


# -- durable ---------------------------------------------------------------------------------
@app.orchestration_trigger(context_name="context")
def greet(context: df.DurableOrchestrationContext):
    names = context.get_input() or ["a"]
    out = []
    for name in names:
        out.append((yield context.call_activity("say", name)))
    context.set_custom_status({"done": len(out)})
    return out


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    deadline = context.current_utc_datetime + timedelta(hours=2)
    timer = context.create_timer(deadline)
    event = context.wait_for_external_event("approve")
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        return {"approved": event.result}
    return {"approved": False, "reason": "timeout"}


@app.activity_trigger(input_name="name")
def say(name: str) -> str:
    return f"hello {name}"


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        value += context.get_input() or 1
    context.set_state(value)
    context.set_result(value)


# -- http ------------------------------------------------------------------------------------
@app.route(route="start/{name}/{instance_id?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = await client.start_new(
        req.route_params["name"], req.route_params.get("instance_id"), payload
    )
    return client.create_check_status_response(req, instance_id)


@app.route(route="run/{name}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.durable_client_input(client_name="client")
async def run(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json())
    return await client.wait_for_completion_or_create_check_status_response(
        req, instance_id, timeout_in_milliseconds=20000, retry_interval_in_milliseconds=50
    )


@app.route(route="items/{id:int}", methods=["GET"])
def item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(
            {
                "id": req.route_params["id"],
                "q": req.params.get("q"),
                "method": req.method,
                "header": req.headers.get("x-test"),
            }
        ),
        mimetype="application/json",
    )


@app.route(route="files/{*path}", auth_level=func.AuthLevel.ANONYMOUS)
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params.get("path", ""), status_code=200)


@app.route(route="hello/{name?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"hi {req.route_params.get('name', 'nobody')}")


@app.route(route="admin-only", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin ok")


@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret internal detail")


@app.route(route="whoami", auth_level=func.AuthLevel.ANONYMOUS)
def whoami(req: func.HttpRequest, context: func.Context) -> str:
    import os

    return json.dumps({"function": context.function_name, "invocation": context.invocation_id,
                       "setting": os.environ.get("TASKS_QUEUE")})


@app.route(route="echo", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.get_body(), status_code=201, headers={"x-echo": "1"})


@app.route(route="enqueue", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.service_bus_queue_output(
    arg_name="out", queue_name="%TASKS_QUEUE%", connection="SERVICEBUS_CONNECTION"
)
def enqueue(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set(req.get_body().decode())
    return func.HttpResponse("queued", status_code=202)


# -- service bus -----------------------------------------------------------------------------
@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="%TASKS_QUEUE%", connection="SERVICEBUS_CONNECTION"
)
@app.durable_client_input(client_name="client")
async def on_task(msg: func.ServiceBusMessage, client: df.DurableOrchestrationClient):
    data = json.loads(msg.get_body())
    await client.start_new("greet", msg.message_id, data["names"])
    await client.signal_entity(
        df.EntityId("counter", "tasks"), "add", msg.application_properties.get("weight", 1)
    )


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="poison", connection="SERVICEBUS_CONNECTION"
)
def on_poison(msg: func.ServiceBusMessage):
    if msg.get_body() == b"poison":
        raise ValueError(f"cannot handle message {msg.message_id}")


@app.service_bus_topic_trigger(
    arg_name="msg",
    topic_name="agent-tasks",
    subscription_name="qa-agent",
    connection="SERVICEBUS_CONNECTION",
)
@app.durable_client_input(client_name="client")
async def on_qa(msg: str, client: df.DurableOrchestrationClient):
    await client.signal_entity(df.EntityId("counter", "qa"), "add", 1)


@app.service_bus_queue_trigger(arg_name="msgs", queue_name="batch", cardinality="many",
                               connection="SERVICEBUS_CONNECTION")
@app.durable_client_input(client_name="client")
async def on_batch(msgs: list[func.ServiceBusMessage], client: df.DurableOrchestrationClient):
    await client.signal_entity(df.EntityId("counter", "batches"), "add", 1)
    await client.signal_entity(df.EntityId("counter", "batched"), "add", len(msgs))


# -- timer -----------------------------------------------------------------------------------
@app.timer_trigger(schedule="0 0 * * * *", arg_name="timer")
@app.durable_client_input(client_name="client")
async def hourly(timer: func.TimerRequest, client: df.DurableOrchestrationClient):
    await client.signal_entity(df.EntityId("counter", "ticks"), "add", 100 if timer.past_due else 1)
