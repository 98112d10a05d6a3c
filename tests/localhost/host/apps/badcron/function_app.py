"""A test app whose timer schedule is not 6-field NCRONTAB: the host must refuse it clearly."""

import azure.functions as func

app = func.FunctionApp()


@app.timer_trigger(schedule="*/5 * * * *", arg_name="timer")
def five_fields(timer: func.TimerRequest) -> None:
    pass
