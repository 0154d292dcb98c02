"""streamlearn.observability"""
