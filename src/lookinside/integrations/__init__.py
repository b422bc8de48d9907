"""lookinside inside the trainers people already use; each module imports its trainer, so
import only the one you use (`lookinside.integrations.lightning`)."""
