"""streamlearn.metrics"""
