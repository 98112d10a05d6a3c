"""Blueprint of Podium's entities; see README's map."""

import azure.durable_functions as df

bp = df.Blueprint()
