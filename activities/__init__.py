"""Blueprint of Podium's activities; see README's map."""

import azure.durable_functions as df

bp = df.Blueprint()
